//! Every route under `/api/commerce/`. The manifest's `[[routes]]` make
//! the kernel check staff permissions first; the handlers check them again
//! (calls through `invoke` bypass those rules), and check sign-in, order
//! visibility and company membership themselves.

use tessera_sdk::prelude::*;

use crate::{accounts_routes, cart_routes, catalog_routes, checkout, order_routes, rules_routes};

/// The OpenAPI description of this API.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Every route.
pub fn router() -> Router {
    Router::new()
        .get("/openapi.json", |_, _| {
            Ok(Response::text(200, OPENAPI).with_header("content-type", "application/json"))
        })
        // Catalog.
        .get("/products", catalog_routes::list_products)
        .get("/products/:id", catalog_routes::get_product)
        .put("/products/:id", catalog_routes::put_product)
        .delete("/products/:id", catalog_routes::delete_product)
        .get("/categories", catalog_routes::list_categories)
        .put("/categories/:id", catalog_routes::put_category)
        // Pricing, tax, shipping, stock.
        .get("/price-lists", rules_routes::list_price_lists)
        .put("/price-lists/:id", rules_routes::put_price_list)
        .get("/price-lists/:id/prices/:sku", rules_routes::get_prices)
        .put("/price-lists/:id/prices/:sku", rules_routes::put_prices)
        .delete("/price-lists/:id/prices/:sku", rules_routes::delete_prices)
        .get("/coupons/:code", rules_routes::get_coupon)
        .put("/coupons/:code", rules_routes::put_coupon)
        .get("/discounts", rules_routes::list_discounts)
        .put("/discounts/:id", rules_routes::put_discount)
        .delete("/discounts/:id", rules_routes::delete_discount)
        .get("/tax-rules", rules_routes::list_tax_rules)
        .put("/tax-rules/:country", rules_routes::put_tax_rule)
        .get("/shipping-methods", rules_routes::list_shipping_methods)
        .put("/shipping-methods/:id", rules_routes::put_shipping_method)
        .get("/inventory/:sku", rules_routes::get_stock)
        .put("/inventory/:sku/:warehouse", rules_routes::put_stock)
        // Anonymous carts.
        .post("/carts", cart_routes::create)
        .get("/carts/:token", cart_routes::get)
        .post("/carts/:token/lines", cart_routes::add_line)
        .put("/carts/:token/lines/:sku", cart_routes::set_line)
        .delete("/carts/:token/lines/:sku", cart_routes::remove_line)
        .put("/carts/:token/coupon", cart_routes::set_coupon)
        .delete("/carts/:token/coupon", cart_routes::remove_coupon)
        // The signed-in user's cart.
        .get("/cart", cart_routes::get)
        .post("/cart/lines", cart_routes::add_line)
        .put("/cart/lines/:sku", cart_routes::set_line)
        .delete("/cart/lines/:sku", cart_routes::remove_line)
        .put("/cart/coupon", cart_routes::set_coupon)
        .delete("/cart/coupon", cart_routes::remove_coupon)
        .put("/cart/currency", cart_routes::set_currency)
        .post("/cart/merge", cart_routes::merge)
        // Checkout and orders.
        .post("/checkout", checkout::checkout)
        .get("/orders", order_routes::list)
        .get("/orders/:id", order_routes::get)
        .post("/orders/:id/pay", order_routes::pay)
        .post("/orders/:id/cancel", order_routes::cancel)
        .post("/orders/:id/transitions", order_routes::transition)
        .post("/orders/:id/reorder", order_routes::reorder)
        .get("/orders/:id/invoice", order_routes::order_invoice)
        .get("/invoices", order_routes::invoices)
        .get("/invoices/:number", order_routes::invoice)
        // B2B accounts.
        .get("/account", accounts_routes::my_account)
        .put("/companies/:id", accounts_routes::put_company)
        .get("/companies/:id", accounts_routes::get_company)
        .put("/companies/:id/members/:user", accounts_routes::put_member)
        .delete(
            "/companies/:id/members/:user",
            accounts_routes::delete_member,
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route is in the OpenAPI description, with its method, and the
    /// description names no route that does not exist.
    #[test]
    fn the_openapi_description_matches_the_router() {
        let document: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        let paths = document["paths"].as_object().unwrap();
        let mut documented = Vec::new();
        for (path, operations) in paths {
            for method in operations.as_object().unwrap().keys() {
                let pattern = path
                    .strip_prefix("/api/commerce")
                    .unwrap()
                    .split('/')
                    .map(|segment| {
                        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                            Some(name) => format!(":{name}"),
                            None => segment.to_owned(),
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("/");
                documented.push(format!("{} {pattern}", method.to_uppercase()));
            }
        }
        let mut routes = router().routes();
        routes.sort();
        documented.sort();
        assert_eq!(routes, documented);
    }
}
