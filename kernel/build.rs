//! Records the target triple the kernel is built for, so that it can refuse
//! native packages built for another one (`tessera_kernel::native::HOST_TARGET`).

fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rustc-env=TESSERA_HOST_TARGET={target}");
    println!("cargo:rerun-if-changed=build.rs");
}
