//! `uniffi-bindgen`, built from the same UniFFI version as `hush-bindings` so the generated
//! foreign code always matches the library's scaffolding (maturin runs it when it builds the
//! Python wheel).

fn main() {
    uniffi::uniffi_bindgen_main()
}
