//! `aci-chaos`: evidence of whether secrets survive in Azure Container Instances.
//!
//! Thin: parses the command line and hands over to [`cli`].

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
