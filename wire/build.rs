//! Generates the relay wire types from `spec/proto/relay.proto`, the single source of truth.
//! No `protoc` binary is needed: `protox` parses the file in-process.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = "../spec/proto";
    let files = ["relay.proto"];
    for f in files {
        println!("cargo:rerun-if-changed={dir}/{f}");
    }
    let fds = protox::compile(files, [dir])?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
