//! `simulate`: a realistic synthetic multivariate sensor dataset, the embedded default data.
//!
//! A pump loop sampled every 10 minutes: a hidden load with daily and weekly cycles drives
//! flow, pressure, motor current and vibration; temperature follows the day with a slow drift;
//! voltage sags with current. The test part carries labelled anomalies of four kinds: spikes,
//! level shifts, a frozen sensor and a correlation break.

use std::path::Path;

use atomic_file::{Durability, write_with};
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};

pub const FEATURES: [&str; 6] = ["temperature", "pressure", "flow", "current", "vibration", "voltage"];
const DAY: f64 = 144.0;
const WEEK: f64 = 7.0 * DAY;
/// Typical level and spread of each channel, for sizing anomalies.
const MEAN: [f64; 6] = [20.0, 3.0, 50.0, 10.0, 0.55, 230.0];
const SCALE: [f64; 6] = [3.0, 0.6, 10.0, 1.5, 0.15, 3.0];

/// Kinds of injected anomaly, in the order they appear in `anomalies.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnomalyKind {
    Spike,
    LevelShift,
    FrozenSensor,
    CorrelationBreak,
}

impl AnomalyKind {
    pub fn name(self) -> &'static str {
        match self {
            AnomalyKind::Spike => "spike",
            AnomalyKind::LevelShift => "level_shift",
            AnomalyKind::FrozenSensor => "frozen_sensor",
            AnomalyKind::CorrelationBreak => "correlation_break",
        }
    }
}

/// One injected anomaly: rows `[start, start + len)` of the test set.
#[derive(Debug, Clone)]
pub struct Anomaly {
    pub kind: AnomalyKind,
    pub channel: &'static str,
    pub start: usize,
    pub len: usize,
}

pub struct Dataset {
    pub train: Vec<[f64; 6]>,
    pub test: Vec<[f64; 6]>,
    pub labels: Vec<u8>,
    pub anomalies: Vec<Anomaly>,
}

pub struct SimulateOptions {
    pub seed: u64,
    pub train_rows: usize,
    pub test_rows: usize,
}

impl Default for SimulateOptions {
    fn default() -> Self {
        SimulateOptions { seed: 7, train_rows: 6048, test_rows: 2016 }
    }
}

pub fn generate(opts: &SimulateOptions) -> Dataset {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(opts.seed);
    let n = opts.train_rows + opts.test_rows;
    let std_normal = Normal::new(0.0, 1.0).unwrap_or_else(|_| unreachable!("unit normal is valid"));
    let z = move |rng: &mut rand_chacha::ChaCha8Rng| std_normal.sample(rng);
    let mut load_noise = 0.0;
    // The clean process, then the test part gets its anomalies.
    let mut rows = Vec::with_capacity(n);
    for t in 0..n {
        let tf = t as f64;
        let day = (2.0 * std::f64::consts::PI * tf / DAY).sin();
        let week = (2.0 * std::f64::consts::PI * tf / WEEK).sin();
        load_noise = 0.9 * load_noise + 0.1 * z(&mut rng);
        let load = 0.6 * day + 0.3 * week + load_noise;
        let flow = 50.0 + 12.0 * load + 0.8 * z(&mut rng);
        let pressure = 3.0 + 0.06 * (flow - 50.0) + 0.04 * z(&mut rng);
        let current = 10.0 + 0.15 * (flow - 50.0) + 0.15 * z(&mut rng);
        // Motor temperature: ambient day cycle plus heating by the current, and a slow drift.
        let ambient = 3.0 * (2.0 * std::f64::consts::PI * (tf - 18.0) / DAY).sin();
        let temperature = 20.0 + ambient + 1.5 * (current - 10.0) + 0.0002 * tf + 0.3 * z(&mut rng);
        let vibration = 0.5 + 0.15 * load * load + 0.02 * (current - 10.0) + 0.03 * z(&mut rng);
        let voltage = 230.0 - 2.0 * (current - 10.0) + 0.5 * z(&mut rng);
        rows.push([temperature, pressure, flow, current, vibration, voltage]);
    }
    let mut test = rows.split_off(opts.train_rows);
    let train = rows;
    let mut labels = vec![0u8; test.len()];
    let mut anomalies = Vec::new();
    let m = test.len();
    // Evenly spaced slots so anomalies never overlap, jittered by the seed.
    let plan: [(AnomalyKind, usize, usize); 8] = [
        (AnomalyKind::Spike, 3, 4),
        (AnomalyKind::LevelShift, 4, 40),
        (AnomalyKind::FrozenSensor, 2, 60),
        (AnomalyKind::CorrelationBreak, 3, 50),
        (AnomalyKind::Spike, 1, 3),
        (AnomalyKind::LevelShift, 0, 30),
        (AnomalyKind::FrozenSensor, 2, 50),
        (AnomalyKind::CorrelationBreak, 5, 40),
    ];
    let slot = m / (plan.len() + 1);
    for (k, &(kind, ch, len)) in plan.iter().enumerate() {
        let jitter = rng.random_range(0..slot.saturating_sub(len).max(1) / 2 + 1);
        let start = (slot * (k + 1)).saturating_sub(slot / 2) + jitter;
        if start + len > m {
            continue;
        }
        let sign = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
        let scale = SCALE[ch];
        let frozen = test[start][ch];
        for (r, row) in test.iter_mut().enumerate().skip(start).take(len) {
            match kind {
                AnomalyKind::Spike => row[ch] += sign * 2.0 * scale * (1.0 + 0.2 * (r - start) as f64),
                AnomalyKind::LevelShift => row[ch] += sign * 1.5 * scale,
                // The sensor repeats its reading from the anomaly's first row.
                AnomalyKind::FrozenSensor => row[ch] = frozen,
                // The channel mirrors around its mean: it now moves against its drivers.
                AnomalyKind::CorrelationBreak => row[ch] = 2.0 * MEAN[ch] - row[ch],
            }
            labels[r] = 1;
        }
        anomalies.push(Anomaly { kind, channel: FEATURES[ch], start, len });
    }
    Dataset { train, test, labels, anomalies }
}

/// A fleet: several machines of the same kind, each at its own operating point, one of them
/// (optionally) faulty: only its test rows carry anomalies.
pub struct FleetOptions {
    pub seed: u64,
    pub machines: usize,
    /// 1-based number of the faulty machine (`m03` is 3); `None`: every machine healthy.
    pub faulty: Option<usize>,
    pub train_rows: usize,
    pub test_rows: usize,
}

/// One machine's rows.
pub struct MachineData {
    /// `m01`, `m02`, ...
    pub name: String,
    pub train: Vec<[f64; 6]>,
    pub test: Vec<[f64; 6]>,
    pub labels: Vec<u8>,
    pub anomalies: Vec<Anomaly>,
}

/// The machines of a fleet, each drawn from its own seed. Machine `k` (0-based) runs hotter, at
/// a higher pressure and flow and vibrates more than machine `k - 1`, so one model for all of
/// them blurs what is normal for each; only the faulty machine's test rows get anomalies.
pub fn generate_fleet(opts: &FleetOptions) -> Vec<MachineData> {
    (0..opts.machines)
        .map(|k| {
            let name = format!("m{:02}", k + 1);
            let seed = model_core::stable_hash::fnv1a(format!("fleet/{}/{name}", opts.seed).as_bytes());
            let faulty = opts.faulty == Some(k + 1);
            let (mut train, mut test, labels, anomalies) = if faulty {
                let d = generate(&SimulateOptions { seed, train_rows: opts.train_rows, test_rows: opts.test_rows });
                (d.train, d.test, d.labels, d.anomalies)
            } else {
                let mut d =
                    generate(&SimulateOptions { seed, train_rows: opts.train_rows + opts.test_rows, test_rows: 0 });
                let test = d.train.split_off(opts.train_rows);
                let n = test.len();
                (d.train, test, vec![0; n], Vec::new())
            };
            let k = k as f64;
            for row in train.iter_mut().chain(test.iter_mut()) {
                row[0] += 3.0 * k;
                row[1] *= 1.0 + 0.15 * k;
                row[2] += 8.0 * k;
                row[4] *= 1.0 + 0.3 * k;
            }
            MachineData { name, train, test, labels, anomalies }
        })
        .collect()
}

/// Writes `train.csv`, `test.csv` (`timestamp,machine,<features>`, the machines' rows
/// interleaved by time), `labels.csv` (one per test row) and `anomalies.csv` (with the machine).
pub fn write_fleet(dir: &Path, fleet: &[MachineData], train_rows: usize) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let header = format!("timestamp,machine,{}", FEATURES.join(","));
    let interleaved = |w: &mut dyn std::io::Write, part: fn(&MachineData) -> &[[f64; 6]], offset: usize| {
        writeln!(w, "{header}")?;
        let n = fleet.iter().map(|m| part(m).len()).max().unwrap_or(0);
        for i in 0..n {
            for m in fleet {
                if let Some(row) = part(m).get(i) {
                    write!(w, "{},{}", iso8601(DEFAULT_START + STEP_SECONDS * (offset + i) as i64), m.name)?;
                    for v in row {
                        write!(w, ",{v:.4}")?;
                    }
                    writeln!(w)?;
                }
            }
        }
        Ok(())
    };
    write_with(&dir.join("train.csv"), Durability::Fast, |w| interleaved(w, |m| &m.train, 0))?;
    write_with(&dir.join("test.csv"), Durability::Fast, |w| interleaved(w, |m| &m.test, train_rows))?;
    write_with(&dir.join("labels.csv"), Durability::Fast, |w| {
        writeln!(w, "label")?;
        let n = fleet.iter().map(|m| m.test.len()).max().unwrap_or(0);
        for i in 0..n {
            for m in fleet.iter().filter(|m| i < m.test.len()) {
                writeln!(w, "{}", m.labels.get(i).copied().unwrap_or(0))?;
            }
        }
        Ok(())
    })?;
    write_with(&dir.join("anomalies.csv"), Durability::Fast, |w| {
        writeln!(w, "machine,kind,channel,start_row,rows")?;
        for m in fleet {
            for a in &m.anomalies {
                writeln!(w, "{},{},{},{},{}", m.name, a.kind.name(), a.channel, a.start, a.len)?;
            }
        }
        Ok(())
    })
}

/// 2025-01-01T00:00:00Z, where the default dataset's 10-minute steps start.
const DEFAULT_START: i64 = 1_735_689_600;
/// Seconds between two rows.
pub const STEP_SECONDS: i64 = 600;

/// Writes `train.csv`, `test.csv`, `labels.csv` and `anomalies.csv` into `dir`.
pub fn write(dir: &Path, ds: &Dataset, opts: &SimulateOptions) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let write_table = |name: &str, rows: &[[f64; 6]], offset: usize| -> std::io::Result<()> {
        let start = DEFAULT_START + STEP_SECONDS * offset as i64;
        write_with(&dir.join(name), Durability::Fast, |w| write_csv(w, rows, start, None))
    };
    write_table("train.csv", &ds.train, 0)?;
    write_table("test.csv", &ds.test, opts.train_rows)?;
    write_with(&dir.join("labels.csv"), Durability::Fast, |w| {
        writeln!(w, "label")?;
        for l in &ds.labels {
            writeln!(w, "{l}")?;
        }
        Ok(())
    })?;
    write_with(&dir.join("anomalies.csv"), Durability::Fast, |w| {
        writeln!(w, "kind,channel,start_row,rows")?;
        for a in &ds.anomalies {
            writeln!(w, "{},{},{},{}", a.kind.name(), a.channel, a.start, a.len)?;
        }
        Ok(())
    })
}

/// One table as CSV: `timestamp[,group column],<features>`, rows 10 minutes apart from `start`
/// (seconds since the epoch); `group` is a column name and the value every row carries.
pub fn write_csv(
    w: &mut dyn std::io::Write,
    rows: &[[f64; 6]],
    start: i64,
    group: Option<(&str, &str)>,
) -> std::io::Result<()> {
    match group {
        Some((column, _)) => writeln!(w, "timestamp,{column},{}", FEATURES.join(","))?,
        None => writeln!(w, "timestamp,{}", FEATURES.join(","))?,
    }
    for (i, r) in rows.iter().enumerate() {
        write!(w, "{}", iso8601(start + STEP_SECONDS * i as i64))?;
        if let Some((_, value)) = group {
            write!(w, ",{value}")?;
        }
        for v in r {
            write!(w, ",{v:.4}")?;
        }
        writeln!(w)?;
    }
    Ok(())
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (civil-from-days, no calendar crate needed).
fn iso8601(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod fleet_tests {
    use super::*;

    #[test]
    fn only_the_faulty_machine_has_anomalies_and_machines_differ() {
        let opts = FleetOptions { seed: 7, machines: 3, faulty: Some(2), train_rows: 300, test_rows: 200 };
        let fleet = generate_fleet(&opts);
        assert_eq!(fleet.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["m01", "m02", "m03"]);
        let anomalous = |m: &MachineData| m.labels.iter().filter(|l| **l == 1).count();
        assert_eq!((anomalous(&fleet[0]), anomalous(&fleet[2])), (0, 0));
        assert!(anomalous(&fleet[1]) > 0 && !fleet[1].anomalies.is_empty());
        let mean = |m: &MachineData, c: usize| m.train.iter().map(|r| r[c]).sum::<f64>() / m.train.len() as f64;
        // Each machine runs hotter and at more flow than the one before.
        assert!(mean(&fleet[1], 0) > mean(&fleet[0], 0) + 1.5 && mean(&fleet[2], 2) > mean(&fleet[1], 2) + 4.0);
        // The same seed gives the same fleet.
        assert_eq!(generate_fleet(&opts)[1].test, fleet[1].test);

        let dir = tempfile::tempdir().expect("tempdir");
        write_fleet(dir.path(), &fleet, 300).expect("write");
        let test = std::fs::read_to_string(dir.path().join("test.csv")).expect("test.csv");
        let machines: Vec<&str> = test.lines().skip(1).take(4).map(|l| l.split(',').nth(1).unwrap_or("")).collect();
        assert_eq!(machines, ["m01", "m02", "m03", "m01"], "rows interleaved by time");
        let labels = std::fs::read_to_string(dir.path().join("labels.csv")).expect("labels.csv");
        assert_eq!(labels.lines().count(), test.lines().count());
    }
}
