//! model-serving: placeholder until the serving issue fills it in.
fn main() {
    println!("model-serving {}", env!("CARGO_PKG_VERSION"));
}
