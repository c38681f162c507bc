#!/usr/bin/env python3
"""Writes plugins/commerce/openapi.json, the OpenAPI description of the
commerce API. Edit the tables below and run it again; the plugin's unit
test `the_openapi_description_matches_the_router` checks that every route
is described and nothing else."""

import json
import pathlib

BASE = "/api/commerce"

def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}

def obj(props, required=(), extra=False):
    schema = {"type": "object", "properties": props}
    if required:
        schema["required"] = list(required)
    if not extra:
        schema["additionalProperties"] = False
    return schema

text = {"type": "string"}
integer = {"type": "integer"}
minor = {"type": "integer", "minimum": 0, "description": "Minor units (cents) of the currency, never fractional."}
texts = {"type": "object", "additionalProperties": text, "description": "Text per locale tag (`en`, `de-CH`)."}
attributes = {"type": "object", "additionalProperties": text}

SCHEMAS = {
    "Error": obj({"error": obj({"code": text, "message": text}, ["code", "message"])}, ["error"]),
    "Money": obj({"amount": minor, "currency": {"type": "string", "pattern": "^[A-Z]{3}$"}}, ["amount", "currency"]),
    "Variant": obj({"sku": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"}, "attributes": attributes,
                    "assets": {"type": "array", "items": text, "description": "CMS asset ids."}}, ["sku"]),
    "ProductInput": obj({"names": texts, "descriptions": texts, "categories": {"type": "array", "items": text},
                         "attributes": attributes, "assets": {"type": "array", "items": text},
                         "status": {"enum": ["draft", "published"]},
                         "variants": {"type": "array", "items": ref("Variant"), "minItems": 1, "maxItems": 100}},
                        ["names", "variants"]),
    "Product": obj({"id": text, "name": text, "description": text, "names": texts, "descriptions": texts,
                    "categories": {"type": "array", "items": text}, "attributes": attributes,
                    "assets": {"type": "array", "items": text}, "status": {"enum": ["draft", "published"]},
                    "variants": {"type": "array", "items": {"allOf": [ref("Variant"), obj({
                        "price": {"description": "With `currency`: the caller's unit price, its list and tiers; null when none.",
                                  "type": ["object", "null"]},
                        "available": {"type": "integer", "description": "Units available (product detail only)."}}, extra=True)]}},
                    "created_at": integer, "updated_at": integer}, extra=True),
    "ProductPage": obj({"products": {"type": "array", "items": ref("Product")}, "next_cursor": {"type": ["string", "null"]}}),
    "Category": obj({"names": texts, "parent": text}, ["names"]),
    "Tier": obj({"min_quantity": {"type": "integer", "minimum": 1}, "amount": minor}, ["min_quantity", "amount"]),
    "PriceList": obj({"currency": {"type": "string", "pattern": "^[A-Z]{3}$"}, "account": text, "segment": text,
                      "valid_from": {"type": "string", "format": "date-time"},
                      "valid_until": {"type": "string", "format": "date-time"}, "priority": integer,
                      "prices": {"type": "object", "additionalProperties": {"type": "array", "items": ref("Tier")},
                                 "description": "Tiers per SKU (only in PUT bodies)."}}, ["currency"]),
    "Coupon": obj({"percent_off": {"type": "integer", "minimum": 1, "maximum": 100}, "amount_off": ref("Money"),
                   "minimum_subtotal": ref("Money"), "valid_from": {"type": "string", "format": "date-time"},
                   "valid_until": {"type": "string", "format": "date-time"}, "max_uses": integer}),
    "TaxRule": obj({"rate_bp": {"type": "integer", "minimum": 0, "maximum": 10000, "description": "Basis points: 1900 is 19 %."},
                    "name": text}, ["rate_bp"]),
    "ShippingMethod": obj({"names": texts, "prices": {"type": "object", "additionalProperties": minor},
                           "countries": {"type": "array", "items": {"type": "string", "pattern": "^[A-Z]{2}$"}}},
                          ["names", "prices"]),
    "Stock": obj({"on_hand": {"type": "integer", "minimum": 0}}, ["on_hand"]),
    "PricedLine": obj({"sku": text, "product": text, "name": text, "quantity": integer, "unit_price": minor,
                       "line_total": minor, "price_list": text}),
    "Totals": obj({"currency": text, "subtotal": minor, "discount": minor, "shipping": minor,
                   "tax_rate_bp": integer, "tax": minor, "total": minor}),
    "Cart": obj({"token": {"type": "string", "description": "Anonymous carts only."}, "currency": text,
                 "lines": {"type": "array", "items": ref("PricedLine")},
                 "problems": {"type": "array", "items": obj({"sku": text, "code": text, "message": text})},
                 "automatic_discount": obj({"id": text, "amount": minor}), "coupon": text,
                 "coupon_discount": minor, "coupon_problem": text, "totals": ref("Totals"), "updated_at": integer}),
    "LineInput": obj({"sku": text, "quantity": {"type": "integer", "minimum": 1, "maximum": 999}}, ["sku", "quantity"]),
    "Quantity": obj({"quantity": {"type": "integer", "minimum": 1, "maximum": 999}}, ["quantity"]),
    "Address": obj({"name": text, "line1": text, "line2": text, "postal_code": text, "city": text,
                    "country": {"type": "string", "pattern": "^[A-Z]{2}$"}},
                   ["name", "line1", "postal_code", "city", "country"]),
    "PaymentRequest": obj({"provider": text, "token": text}, ["provider", "token"]),
    "Checkout": obj({"shipping_address": ref("Address"), "billing_address": ref("Address"),
                     "shipping_method": text, "payment": ref("PaymentRequest")},
                    ["shipping_address", "shipping_method"]),
    "Order": obj({"id": text, "site": text,
                  "status": {"enum": ["pending_approval", "placed", "paid", "fulfilled", "shipped", "delivered", "cancelled", "returned"]},
                  "user_id": text, "username": text, "company": text,
                  "lines": {"type": "array", "items": ref("PricedLine")},
                  "automatic_discount": obj({"id": text, "amount": minor}), "coupon": text, "totals": ref("Totals"),
                  "shipping_address": ref("Address"), "billing_address": ref("Address"), "shipping_method": text,
                  "payment": obj({"provider": text, "reference": text, "amount": minor, "at": integer, "refunded": {"type": "boolean"}}),
                  "invoice": text, "approval": text,
                  "history": {"type": "array", "items": obj({"from": {"type": ["string", "null"]}, "to": text, "by": text, "at": integer, "note": text})},
                  "created_at": integer, "updated_at": integer,
                  "payment_error": {"description": "Checkout only: why the payment in the body failed (the order stays placed).", "type": "object"}}),
    "OrderPage": obj({"orders": {"type": "array", "items": ref("Order")}, "next_cursor": {"type": ["string", "null"]}}),
    "Transition": obj({"to": {"enum": ["fulfilled", "shipped", "delivered", "cancelled", "returned"]}, "note": text}, ["to"]),
    "Invoice": obj({"number": text, "order": text, "user_id": text, "username": text, "company": text,
                    "billing_address": ref("Address"), "lines": {"type": "array", "items": ref("PricedLine")},
                    "totals": ref("Totals"), "payment_reference": text, "issued_at": integer}),
    "InvoicePage": obj({"invoices": {"type": "array", "items": ref("Invoice")}, "next_cursor": {"type": ["string", "null"]}}),
    "Company": obj({"name": text, "order_limit": ref("Money"), "segments": {"type": "array", "items": text}}, ["name"]),
    "Member": obj({"role": {"enum": ["buyer", "approver"]}}, ["role"]),
}

def param(name, where="path", description=None):
    p = {"name": name, "in": where, "required": where == "path", "schema": {"type": "string"}}
    if description:
        p["description"] = description
    return p

LIST = [param("cursor", "query", "`next_cursor` of the previous page."), param("limit", "query", "1 to 100, default 20.")]
LOCALE = param("locale", "query", "Locale of names (falls back to `default-locale`).")
CURRENCY = param("currency", "query", "Show the caller's prices in this currency.")
SCOPE = param("scope", "query", "`all`: every one (needs `commerce.order.manage`).")
IDEMPOTENCY = param("Idempotency-Key", "header", "Required: a unique string per checkout (1 to 128 letters, digits, `-_.:`).")
IDEMPOTENCY["required"] = True

CATALOG = "Needs `commerce.catalog.manage`."
ORDERS = "Needs `commerce.order.manage`."

# (method, path, summary, request schema, (status, response schema), extra params, errors)
ROUTES = [
    ("get", "/openapi.json", "This description.", None, (200, None), [], []),
    ("get", "/products", "Published products in id order, filtered and paged: `category`, `q` (every word must match a name or SKU word), `attribute.{name}={value}`, `status=all` (staff: drafts too).", None, (200, "ProductPage"),
     LIST + [param("category", "query"), param("q", "query"), param("status", "query"), LOCALE, CURRENCY], [400]),
    ("get", "/products/{id}", "A published product (staff: drafts too) with prices for the caller and units available.", None, (200, "Product"), [LOCALE, CURRENCY], [404]),
    ("put", "/products/{id}", "Creates (201) or replaces (200) a product. " + CATALOG, "ProductInput", (200, "Product"), [], [400, 403, 409, 422]),
    ("delete", "/products/{id}", "Deletes a product. " + CATALOG, None, (204, None), [], [403, 404]),
    ("get", "/categories", "Every category.", None, (200, None), [], []),
    ("put", "/categories/{id}", "Creates (201) or replaces (200) a category. " + CATALOG, "Category", (200, "Category"), [], [400, 403, 422]),
    ("get", "/price-lists", "Every price list header. " + CATALOG, None, (200, None), [], [403]),
    ("put", "/price-lists/{id}", "Creates (201) or replaces (200) a price list header, with up to 999 SKUs' tiers. " + CATALOG, "PriceList", (200, None), [], [400, 403]),
    ("get", "/price-lists/{id}/prices/{sku}", "A SKU's tiers in a list. " + CATALOG, None, (200, None), [], [403, 404]),
    ("put", "/price-lists/{id}/prices/{sku}", "Sets a SKU's tiers in a list: `{\"tiers\": [...]}`. " + CATALOG, None, (200, None), [], [400, 403, 404]),
    ("delete", "/price-lists/{id}/prices/{sku}", "Removes a SKU from a list. " + CATALOG, None, (204, None), [], [403, 404]),
    ("get", "/coupons/{code}", "A coupon and how many orders used it. " + CATALOG, None, (200, None), [], [403, 404]),
    ("put", "/coupons/{code}", "Creates (201) or replaces (200) a coupon. " + CATALOG, "Coupon", (200, "Coupon"), [], [400, 403]),
    ("get", "/discounts", "Every automatic discount. " + CATALOG, None, (200, None), [], [403]),
    ("put", "/discounts/{id}", "Creates (201) or replaces (200) an automatic discount: a coupon's rules without a code or `max_uses`. " + CATALOG, "Coupon", (200, "Coupon"), [], [400, 403]),
    ("delete", "/discounts/{id}", "Deletes an automatic discount. " + CATALOG, None, (204, None), [], [403, 404]),
    ("get", "/tax-rules", "Every tax rule.", None, (200, None), [], []),
    ("put", "/tax-rules/{country}", "Creates (201) or replaces (200) a country's tax rule. " + CATALOG, "TaxRule", (200, "TaxRule"), [], [400, 403]),
    ("get", "/shipping-methods", "Every shipping method.", None, (200, None), [], []),
    ("put", "/shipping-methods/{id}", "Creates (201) or replaces (200) a shipping method. " + CATALOG, "ShippingMethod", (200, "ShippingMethod"), [], [400, 403]),
    ("get", "/inventory/{sku}", "A SKU's stock per warehouse. " + CATALOG, None, (200, None), [], [403]),
    ("put", "/inventory/{sku}/{warehouse}", "Sets the units on hand (409 below the units reserved). " + CATALOG, "Stock", (200, None), [], [400, 403, 409]),
    ("post", "/carts", "A new anonymous cart (201) with its `token`: `{\"currency\": \"EUR\"}`.", None, (201, "Cart"), [LOCALE], [400]),
    ("get", "/carts/{token}", "An anonymous cart with server-computed totals.", None, (200, "Cart"), [LOCALE], [404]),
    ("post", "/carts/{token}/lines", "Adds units of a SKU.", "LineInput", (200, "Cart"), [LOCALE], [400, 404, 409, 422]),
    ("put", "/carts/{token}/lines/{sku}", "Sets the units of a SKU.", "Quantity", (200, "Cart"), [LOCALE], [400, 404, 409, 422]),
    ("delete", "/carts/{token}/lines/{sku}", "Removes a line.", None, (200, "Cart"), [LOCALE], [404]),
    ("put", "/carts/{token}/coupon", "Applies a coupon: `{\"code\": \"SAVE10\"}`.", None, (200, "Cart"), [LOCALE], [400, 404, 409, 422]),
    ("delete", "/carts/{token}/coupon", "Removes the coupon.", None, (200, "Cart"), [LOCALE], [404]),
    ("get", "/cart", "The signed-in user's cart.", None, (200, "Cart"), [LOCALE], [401]),
    ("post", "/cart/lines", "Adds units of a SKU to the user's cart.", "LineInput", (200, "Cart"), [LOCALE], [400, 401, 409, 422]),
    ("put", "/cart/lines/{sku}", "Sets the units of a SKU.", "Quantity", (200, "Cart"), [LOCALE], [400, 401, 409, 422]),
    ("delete", "/cart/lines/{sku}", "Removes a line.", None, (200, "Cart"), [LOCALE], [401, 404]),
    ("put", "/cart/coupon", "Applies a coupon.", None, (200, "Cart"), [LOCALE], [400, 401, 404, 409, 422]),
    ("delete", "/cart/coupon", "Removes the coupon.", None, (200, "Cart"), [LOCALE], [401]),
    ("put", "/cart/currency", "Prices the cart in another currency: `{\"currency\": \"USD\"}`.", None, (200, "Cart"), [LOCALE], [400, 401]),
    ("post", "/cart/merge", "Merges an anonymous cart (`{\"token\": ...}`) into the user's cart and deletes it; repeating it adds nothing.", None, (200, "Cart"), [LOCALE], [400, 401, 404]),
    ("post", "/checkout", "Places an order from the user's cart (201); with `payment`, charges it at once. A repeat with the same key and body answers the same order (200, `idempotent-replay: true`).", "Checkout", (201, "Order"), [IDEMPOTENCY, LOCALE], [400, 401, 409, 422]),
    ("get", "/orders", "The caller's orders (their company's for members), newest first, paged.", None, (200, "OrderPage"), LIST + [SCOPE], [400, 401, 403]),
    ("get", "/orders/{id}", "An order the caller may see.", None, (200, "Order"), [], [401, 404]),
    ("post", "/orders/{id}/pay", "Pays a placed order.", "PaymentRequest", (200, "Order"), [], [400, 401, 402, 404, 409]),
    ("post", "/orders/{id}/cancel", "Cancels an order (`{\"reason\": ...}`); paid ones only by staff (refunded).", None, (200, "Order"), [], [401, 403, 404, 409]),
    ("post", "/orders/{id}/transitions", "Moves an order along the state machine (409 `invalid_transition` when illegal). " + ORDERS, "Transition", (200, "Order"), [], [400, 403, 404, 409]),
    ("post", "/orders/{id}/reorder", "Puts the order's lines into the caller's cart again; `skipped` lists those that cannot be bought.", None, (200, None), [], [401, 404]),
    ("get", "/orders/{id}/invoice", "The invoice of a paid order.", None, (200, "Invoice"), [], [401, 404]),
    ("get", "/invoices", "The caller's invoices (their company's for members), newest first, paged.", None, (200, "InvoicePage"), LIST + [SCOPE], [400, 401, 403]),
    ("get", "/invoices/{number}", "An invoice the caller may see.", None, (200, "Invoice"), [], [401, 404]),
    ("get", "/account", "The caller's company membership and company, if any.", None, (200, None), [], [401]),
    ("put", "/companies/{id}", "Creates (201) or replaces (200) a company. " + ORDERS, "Company", (200, "Company"), [], [400, 403]),
    ("get", "/companies/{id}", "A company and its members. " + ORDERS, None, (200, None), [], [403, 404]),
    ("put", "/companies/{id}/members/{user}", "Makes a user a buyer or approver of the company. " + ORDERS, "Member", (200, None), [], [400, 403, 404, 409]),
    ("delete", "/companies/{id}/members/{user}", "Removes a member. " + ORDERS, None, (204, None), [], [403, 404]),
]

def operation(method, path, summary, body, answer, params, errors):
    names = [segment[1:-1] for segment in path.split("/") if segment.startswith("{")]
    op = {"summary": summary, "operationId": method + "".join(
        part.capitalize() for part in path.replace("{", "").replace("}", "").replace("-", "/").replace(".", "/").split("/") if part)}
    parameters = [param(name) for name in names] + params
    if parameters:
        op["parameters"] = parameters
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref(body)}}}
    status, schema = answer
    ok = {"description": "Success."}
    if schema:
        ok["content"] = {"application/json": {"schema": ref(schema)}}
    elif status != 204:
        ok["content"] = {"application/json": {"schema": {"type": "object"}}}
    op["responses"] = {str(status): ok}
    for error in errors:
        op["responses"][str(error)] = {"description": "See `error.code`.", "content": {"application/json": {"schema": ref("Error")}}}
    return op

paths = {}
for route in ROUTES:
    paths.setdefault(BASE + route[1], {})[route[0]] = operation(*route)

document = {
    "openapi": "3.1.0",
    "info": {
        "title": "Tessera commerce plugin API",
        "version": "0.1.0",
        "description": "Served by the tessera.commerce plugin under /api/commerce. Money is integer minor units with an ISO 4217 currency, never floats. Errors are JSON {\"error\": {\"code\", \"message\"}}. See docs/commerce.md.",
    },
    "paths": paths,
    "components": {"schemas": SCHEMAS},
}
out = pathlib.Path(__file__).resolve().parent.parent / "openapi.json"
out.write_text(json.dumps(document, indent=2) + "\n")
