//! Generates the wire and state structs from `spec/proto/*.proto`, the single source of truth.
//! No `protoc` binary is needed: `protox` parses the files in-process.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = "../spec/proto";
    let files = [
        "messages.proto",
        "state.proto",
        "group.proto",
        "attachment.proto",
    ];
    for f in files {
        println!("cargo:rerun-if-changed={dir}/{f}");
    }
    let fds = protox::compile(files, [dir])?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
