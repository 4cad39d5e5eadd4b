//! Training and inference speed of the dense autoencoder, printed beside the fixed references
//! measured on this machine kind (issue 2). Run through `scripts/bench_speed.sh`, which pins
//! one thread (RAYON_NUM_THREADS=1).

use std::time::Instant;

use model_core::Architecture;
use model_core::forward::LeanNetwork;
use model_creation::train::Trainer;
use model_creation::train::backend::Backend;

const ROWS: usize = 100_000;

/// Four random-phase sines plus noise, standardised-ish: the data BURN.md measured with.
fn data(dim: usize) -> Vec<f32> {
    let mut state = 0x9e3779b97f4a7c15u64;
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let phases: Vec<f32> = (0..4 * dim).map(|_| noise() * std::f32::consts::TAU).collect();
    let mut v = Vec::with_capacity(ROWS * dim);
    for i in 0..ROWS {
        let t = i as f32 * 0.01;
        for j in 0..dim {
            let s: f32 = (0..4).map(|k| (t * (k + 1) as f32 + phases[k * dim + j]).sin()).sum();
            v.push(0.5 * s + 0.1 * noise());
        }
    }
    v
}

fn train_rows_per_sec(arch: &Architecture, batch: usize, x: &[f32]) -> f64 {
    let mut trainer = Trainer::new(Backend::Flex, arch, 1, 1e-3, batch);
    // Warm-up on a slice so one-time allocations are not timed.
    trainer.epoch(&x[..batch * 4 * arch.input], batch * 4);
    let start = Instant::now();
    trainer.epoch(x, ROWS);
    ROWS as f64 / start.elapsed().as_secs_f64()
}

fn infer_rows_per_sec(net: &LeanNetwork, rows_per_call: usize, x: &[f32]) -> (f64, f64) {
    let dim = net.input_dim();
    let chunk = &x[..rows_per_call * dim];
    let mut calls = 0usize;
    let mut sink = 0.0f32;
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < 1.0 {
        sink += net.score(chunk, rows_per_call)[0];
        calls += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    assert!(sink.is_finite());
    ((calls * rows_per_call) as f64 / secs, secs / calls as f64 * 1e6)
}

fn main() {
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "unset (all cores)".into());
    println!("RAYON_NUM_THREADS={threads}; {ROWS} synthetic rows; burn flex backend");
    let a = Architecture::new(32, vec![32, 16, 16, 32]);
    let b = Architecture::new(640, vec![128, 128, 128, 128, 8, 128, 128, 128, 128]);
    let xa = data(32);
    let xb = data(640);

    println!("\ntraining (one epoch, Adam, MSE)        rows/s   reference");
    let ra32 = train_rows_per_sec(&a, 32, &xa);
    println!("shape A d=32   batch 32   {ra32:>14.0}   PyTorch 85,000 (target >= 3x = 255,000)");
    let ra256 = train_rows_per_sec(&a, 256, &xa);
    println!("shape A d=32   batch 256  {ra256:>14.0}   (BURN.md flex ~1.4 M)");
    let rb = train_rows_per_sec(&b, 512, &xb);
    println!("shape B d=640  batch 512  {rb:>14.0}   PyTorch 54,000, Keras 83,000 (target >= Keras)");

    println!("\ninference (lean f32 kernel, MSE per row)   rows/s   us/call");
    for (name, arch, x) in [("A", &a, &xa), ("B", &b, &xb)] {
        let mut trainer = Trainer::new(Backend::Flex, arch, 1, 1e-3, 256);
        trainer.epoch(&x[..256 * 8 * arch.input], 256 * 8);
        let weights = trainer.export().unwrap_or_else(|e| panic!("export: {e}"));
        let net = LeanNetwork::new(arch, weights);
        for rows in [1usize, 100, 10_000] {
            let (rps, us) = infer_rows_per_sec(&net, rows, x);
            println!("shape {name} {rows:>6} rows/call  {rps:>14.0}  {us:>9.1}");
        }
    }
}
