//! The command line: `opsline serve` (the default), migrations, configuration checks, users,
//! tokens and SLA previews — all with the same configuration and environment as `serve`.

use std::io::Read;

use clap::{Parser, Subcommand};
use migration::{Migrator, MigratorTrait};

use crate::clock::Clock;
use crate::config::{Config, ConfigSource, secret::redact_url};
use crate::domain::actor::Actor;
use crate::domain::check::InspectionStatus;
use crate::domain::level::Level;
use crate::domain::ticket::Role;
use crate::services::users::{self, NewTokenRequest, NewUser};
use crate::startup::{Application, prepare};

#[derive(Debug, Parser)]
#[command(name = "opsline", version, about = "SLA-driven incident and operations support")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API and pages (the default).
    Serve,
    /// Apply, roll back or list database migrations.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Print every configuration problem with its key; exit 1 on errors.
    CheckConfig {
        /// Also connect to the database and run a trivial query.
        #[arg(long)]
        connect: bool,
    },
    /// Manage staff users.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// SLA tools.
    Sla {
        #[command(subcommand)]
        action: SlaAction,
    },
    /// Run every check now (or those with a tag, or named ones) and print the report; exit 0
    /// passed, 1 failed, 2 inconclusive or not run. Results count like any run: health and tickets
    /// follow.
    Inspect {
        /// Only checks with this tag (repeatable).
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// Only this check (repeatable).
        #[arg(long = "check")]
        checks: Vec<String>,
        /// Environment detection: judge the selected exporter checks' hosts against this profile
        /// (`[environments.NAME]`).
        #[arg(long)]
        environment: Option<String>,
        /// markdown (default) | json | html
        #[arg(long, default_value = "markdown")]
        format: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    Up,
    /// Roll back the most recent migration.
    Down,
    Status,
}

#[derive(Debug, Subcommand)]
pub enum UserAction {
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        role: Role,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        display_name: Option<String>,
    },
    /// Reads the new password from standard input.
    SetPassword {
        #[arg(long)]
        username: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Prints the new token as the last line of standard output; only its hash is stored.
    Create {
        /// The user the token acts as.
        #[arg(long, conflicts_with = "role", required_unless_present = "role")]
        user: Option<String>,
        /// Create a service user with this role (needs --name).
        #[arg(long, requires = "name")]
        role: Option<Role>,
        /// The token's name (and the service user's, with --role).
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SlaAction {
    /// Print the deadlines a ticket would get (docs/sla.md §10).
    Preview {
        #[arg(long)]
        calendar: String,
        #[arg(long)]
        sla_policy: String,
        #[arg(long)]
        level: Level,
        /// RFC 3339 with any offset; now when absent.
        #[arg(long)]
        opened_at: Option<String>,
    },
}

/// Runs a command; returns the process exit code.
pub async fn run(cli: Cli, source: ConfigSource) -> anyhow::Result<i32> {
    if let Some(Command::CheckConfig { connect }) = cli.command {
        return Ok(check_config(&source, connect).await);
    }
    let config = match Config::load(&source) {
        Ok(c) => c,
        Err(e) => {
            eprint!("{e}");
            return Ok(1);
        }
    };
    crate::telemetry::init(&config.settings.log, source.env.get("OPSLINE_LOG").cloned());
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    let clock = Clock::System;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            tracing::info!(
                listen = %config.settings.http.listen,
                database = %redact_url(config.settings.database.url.expose()),
                environment = %config.environment,
                "starting opsline"
            );
            let app = Application::build(config, clock).await?;
            app.run_until_stopped().await?;
            Ok(0)
        }
        Command::CheckConfig { .. } => Ok(0),
        Command::Migrate { action } => {
            let db = crate::persistence::connect(&config.settings.database).await?;
            match action {
                MigrateAction::Up => {
                    crate::persistence::migrate(&db, &config.settings.database).await?;
                    println!("migrations applied");
                }
                MigrateAction::Down => {
                    Migrator::down(&db, Some(1)).await?;
                    println!("rolled back one migration");
                }
                MigrateAction::Status => {
                    let applied = crate::persistence::applied_migrations(&db).await?;
                    for m in Migrator::migrations() {
                        let name = m.name().to_string();
                        println!("{} {name}", if applied.contains(&name) { "applied" } else { "pending" });
                    }
                    for unknown in crate::persistence::unknown_migrations(&db).await? {
                        println!("unknown {unknown} (newer than this binary)");
                    }
                }
            }
            Ok(0)
        }
        Command::User { action } => {
            let state = prepare(config, clock.clone(), true).await?;
            let now = clock.now();
            match action {
                UserAction::Create { username, role, email, display_name } => {
                    let input =
                        NewUser { username, display_name, email, role, language: None, team: None, password: None };
                    let u = users::create(&state, &Actor::command_line(), input, false, now).await?;
                    println!("created user {} (id {}, role {})", u.username, u.id, u.role);
                }
                UserAction::SetPassword { username } => {
                    let mut password = String::new();
                    std::io::stdin().read_to_string(&mut password)?;
                    let password = password.trim_end_matches(['\n', '\r']);
                    users::set_password(&state, &username, password, now).await?;
                    println!("password set for {username}");
                }
            }
            Ok(0)
        }
        Command::Token { action: TokenAction::Create { user, role, name } } => {
            let state = prepare(config, clock.clone(), true).await?;
            let now = clock.now();
            let req = match (user, role) {
                (Some(username), None) => {
                    let u = users::find_by_username(&state.db, &username).await?;
                    NewTokenRequest {
                        user_id: Some(u.id),
                        role: None,
                        name: name.unwrap_or_else(|| format!("{username} (cli)")),
                        expires_at: None,
                    }
                }
                (None, Some(role)) => NewTokenRequest {
                    user_id: None,
                    role: Some(role),
                    name: name.unwrap_or_default(),
                    expires_at: None,
                },
                _ => anyhow::bail!("give --user, or --role with --name"),
            };
            let t = users::create_token(&state, &Actor::command_line(), req, now).await?;
            println!("token {} created for user id {}; it is shown once:", t.id, t.user_id.unwrap_or_default());
            println!("{}", t.token);
            Ok(0)
        }
        Command::Sla { action: SlaAction::Preview { calendar, sla_policy, level, opened_at } } => {
            let opened = match opened_at {
                Some(s) => chrono::DateTime::parse_from_rfc3339(&s)
                    .map_err(|e| anyhow::anyhow!("--opened-at: `{s}` is not RFC 3339: {e}"))?
                    .with_timezone(&chrono::Utc),
                None => clock.now(),
            };
            let p = crate::services::sla::preview_on(&config.runtime, &calendar, &sla_policy, level, opened)?;
            println!("{}", serde_json::to_string_pretty(&p)?);
            Ok(0)
        }
        Command::Inspect { tags, checks, environment, format } => {
            let req = crate::services::checks::inspections::NewInspection {
                tags: (!tags.is_empty()).then_some(tags),
                checks: (!checks.is_empty()).then_some(checks),
                environment,
            };
            // Whatever stops the inspection from judging (an unknown profile or tag, a database
            // out of reach) leaves its verdict unknown: 2, as an inconclusive one, never 1.
            Ok(inspect(config, clock, req, &format).await.unwrap_or_else(|e| {
                eprintln!("error: {}", crate::services::chain(e.as_ref()));
                2
            }))
        }
    }
}

async fn inspect(
    config: Config,
    clock: Clock,
    req: crate::services::checks::inspections::NewInspection,
    format: &str,
) -> anyhow::Result<i32> {
    use crate::services::checks::{inspections, report};
    if !["markdown", "json", "html"].contains(&format) {
        anyhow::bail!("--format: markdown, json or html");
    }
    let state = prepare(config, clock.clone(), false).await?;
    let (started, mine) = inspections::start(&state, "cli", req, clock.now()).await?;
    if !mine {
        eprintln!("inspection {} was already running; following it", started.id);
    }
    let mut shown = -1;
    let v = loop {
        let v = inspections::get(&state, started.id).await?;
        if v.done != shown {
            eprintln!("inspection {}: {}/{} checks done", v.id, v.done, v.total);
            shown = v.done;
        }
        if v.status != InspectionStatus::Running {
            break v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    match format {
        "json" => println!("{}", serde_json::to_string_pretty(&v)?),
        "html" => println!("{}", report::html(&v)),
        _ => print!("{}", report::markdown(&v)),
    }
    Ok(match v.status {
        InspectionStatus::Passed => 0,
        InspectionStatus::Failed => 1,
        InspectionStatus::Inconclusive | InspectionStatus::Running => 2,
    })
}

async fn check_config(source: &ConfigSource, connect: bool) -> i32 {
    match Config::load(source) {
        Ok(c) => {
            for w in &c.warnings {
                println!("{w}");
            }
            let database = redact_url(c.settings.database.url.expose());
            if connect {
                let reached = match crate::persistence::connect(&c.settings.database).await {
                    Ok(db) => sea_orm::ConnectionTrait::execute_unprepared(&db, "SELECT 1")
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                if let Err(e) = reached {
                    println!("error: {e}");
                    return 1;
                }
                println!("database {database} answers");
            }
            println!(
                "configuration OK ({} environment, {} calendar(s), {} SLA policy(ies), database {database}{})",
                c.environment,
                c.runtime.calendars.len(),
                c.runtime.policies.len(),
                if connect { "" } else { "; not connected: add --connect to try it" }
            );
            0
        }
        Err(e) => {
            for p in &e.problems {
                println!("{p}");
            }
            let errors = e.problems.iter().filter(|p| p.is_error()).count();
            println!("{errors} error(s): the configuration is not valid");
            1
        }
    }
}
