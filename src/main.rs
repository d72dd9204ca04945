//! `aci-chaos`: evidence of whether secrets survive in Azure Container Instances.
//!
//! Thin: parses the command line and hands over to [`cli`].

mod cli;

fn main() -> std::process::ExitCode {
    // Die quietly when the reader of our output goes away (`aci-chaos … | head`), as other Unix
    // tools do, instead of panicking on a broken pipe.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    cli::main()
}
