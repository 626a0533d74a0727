//! `opsline`: see `opsline --help`.

use clap::Parser;
use opsline::cli::{Cli, run};
use opsline::config::ConfigSource;

#[actix_web::main]
async fn main() {
    let cli = Cli::parse();
    let code = match run(cli, ConfigSource::from_env()).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", opsline::services::chain(e.as_ref()));
            1
        }
    };
    std::process::exit(code);
}
