//! espeak-ng is compiled by espeak-rs-sys with sonic support; the static archive it produces
//! references libsonic, which Debian ships as libsonic-dev, so the final link needs it.
fn main() {
    println!("cargo:rustc-link-lib=sonic");
}
