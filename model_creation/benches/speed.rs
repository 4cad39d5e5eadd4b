//! Training and inference speed of the dense autoencoder. With `BENCH_CASE=SHAPE:BATCH`, one
//! training case as a JSON line, which `scripts/bench_speed.sh` runs beside the PyTorch and
//! Keras references; without it, the full report (per-step split, the serving kernel), printed
//! beside the fixed references measured on this machine kind for issue 2
//! (`SPEED_REPORT=1 scripts/bench_speed.sh`, one thread).

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

const EPOCHS: usize = 3;

/// Rows/s of `EPOCHS` timed epochs (sorted) and the mean time per step in each phase.
fn train_speed(arch: &Architecture, batch: usize, x: &[f32]) -> (Vec<f64>, [f64; 3]) {
    let mut trainer = Trainer::new(Backend::Flex, arch, 1, 1e-3, batch);
    // Warm-up on a slice so one-time allocations are not timed.
    trainer.epoch(&x[..batch * 4 * arch.input], batch * 4);
    let before = trainer.step_times();
    let mut rates: Vec<f64> = (0..EPOCHS)
        .map(|_| {
            let start = Instant::now();
            trainer.epoch(x, ROWS);
            ROWS as f64 / start.elapsed().as_secs_f64()
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    let after = trainer.step_times();
    let steps = (after.steps - before.steps) as f64;
    let per_step = |a: std::time::Duration, b: std::time::Duration| (a - b).as_secs_f64() / steps * 1e6;
    let phases = [
        per_step(after.forward, before.forward),
        per_step(after.backward, before.backward),
        per_step(after.optimizer, before.optimizer),
    ];
    (rates, phases)
}

/// Floating-point operations per row: forward 2·Σ d_in·d_out; backward the same for the weight
/// gradients plus the input gradients of every layer but the first.
fn flops_per_row(arch: &Architecture) -> (f64, f64) {
    let macs: Vec<f64> = arch.layer_dims().iter().map(|(i, o)| (i * o) as f64).collect();
    let forward = 2.0 * macs.iter().sum::<f64>();
    (forward, forward + 2.0 * macs[1..].iter().sum::<f64>())
}

fn print_train(name: &str, arch: &Architecture, batch: usize, x: &[f32], reference: &str) {
    let (rates, [fwd, bwd, adam]) = train_speed(arch, batch, x);
    let median = rates[rates.len() / 2];
    let best = rates[rates.len() - 1];
    println!("{name:<28}{median:>12.0}{best:>12.0}   {reference}");
    let (f_flops, b_flops) = flops_per_row(arch);
    let gflops = |flops: f64, us: f64| flops * batch as f64 / us / 1e3;
    println!(
        "{:<28}per step: forward+loss {fwd:.0} us ({:.1} GFLOP/s), backward {bwd:.0} us ({:.1} GFLOP/s), Adam {adam:.0} us",
        "",
        gflops(f_flops, fwd),
        gflops(b_flops, bwd)
    );
}

/// The CPU the figures belong to: model, clock and the widest SIMD the gemm kernels can use.
fn cpu() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |key: &str| {
        info.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split(':').nth(1))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| "?".into())
    };
    #[cfg(target_arch = "x86_64")]
    let simd = if std::arch::is_x86_feature_detected!("avx512f") {
        "AVX-512F"
    } else if std::arch::is_x86_feature_detected!("fma") {
        "AVX2+FMA, no AVX-512"
    } else {
        "no FMA"
    };
    #[cfg(not(target_arch = "x86_64"))]
    let simd = "not x86_64";
    format!("{} at {} MHz, {simd}", field("model name"), field("cpu MHz"))
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

/// Shape A: d=32, 32-16-16-32.
fn shape_a() -> Architecture {
    Architecture::new(32, vec![32, 16, 16, 32])
}

/// Shape B: d=640, 128×4-8-128×4.
fn shape_b() -> Architecture {
    Architecture::new(640, vec![128, 128, 128, 128, 8, 128, 128, 128, 128])
}

fn shape(name: &str) -> Option<Architecture> {
    match name {
        "A" => Some(shape_a()),
        "B" => Some(shape_b()),
        _ => None,
    }
}

/// `BENCH_CASE=A:32` (shape A or B, batch): that training case alone, as one JSON line, for
/// `scripts/bench_speed.sh`, which runs the references beside it.
fn one_case(case: &str) {
    let parsed = case.split_once(':').and_then(|(s, batch)| Some((shape(s)?, batch.parse::<usize>().ok()?)));
    let Some((arch, batch)) = parsed else {
        eprintln!("BENCH_CASE={case}: expected SHAPE:BATCH with SHAPE A or B, e.g. A:32");
        std::process::exit(2);
    };
    let x = data(arch.input);
    let (rates, [forward, backward, adam]) = train_speed(&arch, batch, &x);
    println!(
        "{{\"rows_per_s\": {:.0}, \"best_rows_per_s\": {:.0}, \"forward_us\": {forward:.1}, \"backward_us\": {backward:.1}, \"adam_us\": {adam:.1}}}",
        rates[rates.len() / 2],
        rates[rates.len() - 1]
    );
}

fn main() {
    if let Ok(case) = std::env::var("BENCH_CASE") {
        one_case(&case);
        return;
    }
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "unset (all cores)".into());
    println!("RAYON_NUM_THREADS={threads}; {ROWS} synthetic rows; burn flex backend");
    let (a, b) = (shape_a(), shape_b());
    let xa = data(32);
    let xb = data(640);

    println!("CPU: {}", cpu());
    let (a_fwd, a_bwd) = flops_per_row(&a);
    let (b_fwd, b_bwd) = flops_per_row(&b);
    println!(
        "FLOP per row: shape A {:.0} k, shape B {:.2} M (forward + backward)",
        (a_fwd + a_bwd) / 1e3,
        (b_fwd + b_bwd) / 1e6
    );

    println!("\ntraining (Adam, MSE; {EPOCHS} epochs)    median rows/s  best   reference");
    print_train("shape A d=32   batch 32", &a, 32, &xa, "PyTorch 85,000 (target >= 3x = 255,000)");
    print_train("shape A d=32   batch 256", &a, 256, &xa, "(BURN.md flex ~1.4 M)");
    print_train("shape B d=640  batch 512", &b, 512, &xb, "PyTorch 54,000, Keras 83,000 (target >= Keras)");

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
