//! Benchmark helper: prints the DVC 3 md5 of each file argument (no hash state involved).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for f in std::env::args().skip(1) {
        let h = dvc_pipeline::checksum::md5_file(std::path::Path::new(&f), dvc_pipeline::checksum::Algo::Md5)?;
        println!("{h}  {f}");
    }
    Ok(())
}
