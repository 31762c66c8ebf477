/// mimalloc: the proxy allocates a request's copy on a worker thread and frees it on the
/// analysis thread; glibc's malloc took 13 % of the mirroring proxy's CPU doing that
/// (`benches/proxy.sh`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cutover::cli::main()
}
