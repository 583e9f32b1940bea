//! The subcommands and what each does against the API server.

use super::describe::{describe, line};
use super::progress::{Goal, Progress};
use super::watch::follow;
use super::{CliError, Connection, EXIT_HELP, Exit, lint};
use crate::api::Rollout;
use crate::api::command::{ANNOTATION, Command, Verb};
use crate::api::duration::parse_duration;
use crate::controller::revision;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use std::time::Duration;

/// Field manager of the CLI's writes, so `managedFields` tell them from kubectl's.
const FIELD_MANAGER: &str = "portcullis-cli";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
    Yaml,
}

#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// The Rollout; without it, one line per Rollout in the namespace.
    pub name: Option<String>,
    /// How to print: text for people, or the whole Rollout as yaml or json.
    #[arg(short, long, value_enum, default_value = "text")]
    pub output: Output,
    #[command(flatten)]
    pub conn: Connection,
}

#[derive(Debug, Clone, clap::Args)]
pub struct PushArgs {
    /// The Rollout whose workload gets the release.
    pub name: String,
    /// `CONTAINER=IMAGE`, or just `IMAGE` when the pod has one container.
    #[arg(required = true)]
    pub images: Vec<String>,
    /// Then wait for the release's outcome (as `portcullis wait`).
    #[arg(long)]
    pub wait: bool,
    /// If the revision was rolled back before, judge it again as a canary (sends
    /// `retry`); without it, pushing a rejected revision exits 1.
    #[arg(long)]
    pub retry: bool,
    /// How long `--wait` waits.
    #[arg(long, default_value = "30m", value_parser = parse_duration)]
    pub timeout: Duration,
    #[command(flatten)]
    pub conn: Connection,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WaitFor {
    /// The release is the stable release (exit 1 if it is rolled back).
    Promoted,
    /// Its canary is paused, e.g. at a `pause` step (exit 1 if rolled back or promoted).
    Paused,
    /// It was rolled back (exit 1 if promoted).
    Aborted,
}

#[derive(Debug, Clone, clap::Args)]
pub struct WaitArgs {
    /// The Rollout whose release to wait for.
    pub name: String,
    /// The outcome to wait for.
    #[arg(long = "for", value_enum, default_value = "promoted")]
    pub for_: WaitFor,
    /// The release to wait for (default: the workload's current pod template).
    #[arg(long)]
    pub revision: Option<String>,
    /// How long to wait for the outcome (then exit 3).
    #[arg(long, default_value = "30m", value_parser = parse_duration)]
    pub timeout: Duration,
    #[command(flatten)]
    pub conn: Connection,
}

#[derive(Debug, Clone, clap::Args)]
pub struct VerbArgs {
    /// The Rollout to send the command to.
    pub name: String,
    /// Send the command and return without waiting for the controller to act on it.
    #[arg(long)]
    pub no_wait: bool,
    /// How long to wait for the controller's acknowledgement.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub timeout: Duration,
    #[command(flatten)]
    pub conn: Connection,
}

#[derive(Debug, Clone, clap::Args)]
pub struct PromoteArgs {
    /// Skip every remaining step and promote now (refused after a failed verdict).
    #[arg(long)]
    pub full: bool,
    #[command(flatten)]
    pub verb: VerbArgs,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum RolloutCommand {
    /// Show a Rollout: phase, step, weights, releases, analysis numbers, history.
    #[command(after_help = EXIT_HELP)]
    Status(StatusArgs),
    /// Push a release: set images on the Rollout's Deployment; Portcullis runs it as a canary.
    #[command(after_help = EXIT_HELP)]
    Push(PushArgs),
    /// Wait for a release's outcome: promoted (default), paused or rolled back.
    #[command(after_help = EXIT_HELP)]
    Wait(WaitArgs),
    /// End the current pause (`--full`: skip every remaining step).
    #[command(after_help = EXIT_HELP)]
    Promote(PromoteArgs),
    /// Stop the canary now and send all traffic back to stable.
    #[command(after_help = EXIT_HELP)]
    Abort(VerbArgs),
    /// Run a rolled-back revision's canary again from the first step.
    #[command(after_help = EXIT_HELP)]
    Retry(VerbArgs),
    /// Hold the canary at its current step and weight.
    #[command(after_help = EXIT_HELP)]
    Pause(VerbArgs),
    /// Undo `pause` (and a pause for unreadable metrics).
    #[command(after_help = EXIT_HELP)]
    Resume(VerbArgs),
    /// Let the workload's new release start inside a freeze window.
    #[command(after_help = EXIT_HELP)]
    OverrideFreeze(VerbArgs),
    /// Check Rollout and analysis template manifests offline, as the controller would.
    #[command(after_help = EXIT_HELP)]
    Lint(lint::LintArgs),
}

impl RolloutCommand {
    /// Which cluster the command talks to (`lint` talks to none).
    fn connection(&self) -> Option<&Connection> {
        match self {
            RolloutCommand::Status(a) => Some(&a.conn),
            RolloutCommand::Push(a) => Some(&a.conn),
            RolloutCommand::Wait(a) => Some(&a.conn),
            RolloutCommand::Promote(a) => Some(&a.verb.conn),
            RolloutCommand::Abort(a)
            | RolloutCommand::Retry(a)
            | RolloutCommand::Pause(a)
            | RolloutCommand::Resume(a)
            | RolloutCommand::OverrideFreeze(a) => Some(&a.conn),
            RolloutCommand::Lint(_) => None,
        }
    }
}

/// Runs one command; what to print has been printed.
pub async fn run(cmd: RolloutCommand) -> Exit {
    let Some(conn) = cmd.connection() else {
        return match cmd {
            RolloutCommand::Lint(a) => lint::run(&a),
            _ => unreachable!("only lint needs no cluster"),
        };
    };
    match conn.connect().await {
        Ok((client, ns)) => run_on(cmd, client, &ns).await,
        Err(e) => report(e),
    }
}

/// Runs one command with `client` in namespace `ns` (the connection flags are ignored):
/// for callers that build their own client, e.g. tests that record every request.
pub async fn run_on(cmd: RolloutCommand, client: Client, ns: &str) -> Exit {
    let result = match cmd {
        RolloutCommand::Status(a) => status(a, client, ns).await,
        RolloutCommand::Push(a) => push(a, client, ns).await,
        RolloutCommand::Wait(a) => wait(a, client, ns).await,
        RolloutCommand::Promote(a) => {
            let verb = if a.full {
                Verb::PromoteFull
            } else {
                Verb::Promote
            };
            send(verb, a.verb, client, ns).await
        }
        RolloutCommand::Abort(a) => send(Verb::Abort, a, client, ns).await,
        RolloutCommand::Retry(a) => send(Verb::Retry, a, client, ns).await,
        RolloutCommand::Pause(a) => send(Verb::Pause, a, client, ns).await,
        RolloutCommand::Resume(a) => send(Verb::Resume, a, client, ns).await,
        RolloutCommand::OverrideFreeze(a) => send(Verb::OverrideFreeze, a, client, ns).await,
        RolloutCommand::Lint(a) => return lint::run(&a),
    };
    result.unwrap_or_else(report)
}

/// Prints why a command could not do its job; its exit status.
fn report(e: CliError) -> Exit {
    eprintln!("error: {e}");
    e.exit()
}

/// The outcome of a wait, printed: the sentence on stdout, and the exit status.
fn finish(p: Progress) -> Exit {
    match p {
        Progress::Reached(m) => {
            println!("{m}");
            Exit::Success
        }
        Progress::Failed(m) => {
            println!("{m}");
            Exit::Failed
        }
        Progress::Waiting => unreachable!("follow returns only outcomes"),
    }
}

async fn get_rollout(client: &Client, ns: &str, name: &str) -> Result<Rollout, CliError> {
    Api::<Rollout>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await?
        .ok_or_else(|| CliError::NotFound(format!("rollout {name} not found in namespace {ns}")))
}

async fn get_workload(client: &Client, ns: &str, ro: &Rollout) -> Result<Deployment, CliError> {
    let name = &ro.spec.workload_ref.name;
    Api::<Deployment>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await?
        .ok_or_else(|| {
            CliError::NotFound(format!(
                "deployment {name} (spec.workloadRef of rollout {}) not found in namespace {ns}",
                ro.name_any()
            ))
        })
}

async fn status(a: StatusArgs, client: Client, ns: &str) -> Result<Exit, CliError> {
    let api: Api<Rollout> = Api::namespaced(client.clone(), ns);
    let rollouts = match &a.name {
        Some(name) => vec![get_rollout(&client, ns, name).await?],
        None => api.list(&ListParams::default()).await?.items,
    };
    match a.output {
        Output::Json if a.name.is_some() => {
            println!(
                "{}",
                serde_json::to_string_pretty(&rollouts[0]).expect("JSON")
            )
        }
        Output::Json => println!("{}", serde_json::to_string_pretty(&rollouts).expect("JSON")),
        Output::Yaml if a.name.is_some() => print!("{}", to_yaml(&rollouts[0])?),
        Output::Yaml => print!("{}", to_yaml(&rollouts)?),
        Output::Text if a.name.is_some() => print!("{}", describe(&rollouts[0], Timestamp::now())),
        Output::Text if rollouts.is_empty() => eprintln!("no rollouts in namespace {ns}"),
        Output::Text => {
            for ro in &rollouts {
                let l = ro
                    .status
                    .as_ref()
                    .map(line)
                    .unwrap_or_else(|| "no status yet".into());
                println!("{:<24} {l}", ro.name_any());
            }
        }
    }
    Ok(Exit::Success)
}

fn to_yaml(v: &impl serde::Serialize) -> Result<String, CliError> {
    serde_saphyr::to_string(v).map_err(|e| CliError::Input(format!("cannot write YAML: {e}")))
}

/// `CONTAINER=IMAGE` pairs for the pod's containers; a bare image needs exactly one.
fn images_for(containers: &[String], args: &[String]) -> Result<Vec<(String, String)>, CliError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for a in args {
        let (c, image) = match a.split_once('=') {
            Some((c, i)) => (c.to_string(), i.to_string()),
            None if containers.len() == 1 => (containers[0].clone(), a.clone()),
            None => {
                return Err(CliError::Input(format!(
                    "`{a}`: the pod has containers {}; say which, as CONTAINER=IMAGE",
                    containers.join(", ")
                )));
            }
        };
        if image.is_empty() || image.contains(char::is_whitespace) {
            return Err(CliError::Input(format!(
                "`{a}`: `{image}` is not an image reference"
            )));
        }
        if !containers.contains(&c) {
            return Err(CliError::Input(format!(
                "`{a}`: no container `{c}` in the pod; it has {}",
                containers.join(", ")
            )));
        }
        if out.iter().any(|(o, _)| *o == c) {
            return Err(CliError::Input(format!("container `{c}` is given twice")));
        }
        out.push((c, image));
    }
    Ok(out)
}

async fn push(a: PushArgs, client: Client, ns: &str) -> Result<Exit, CliError> {
    let ro = get_rollout(&client, ns, &a.name).await?;
    let workload = get_workload(&client, ns, &ro).await?;
    let template = &workload.spec.template;
    let containers = template
        .spec
        .as_ref()
        .map(|s| s.containers.clone())
        .unwrap_or_default();
    let names: Vec<String> = containers.iter().map(|c| c.name.clone()).collect();
    let wanted = images_for(&names, &a.images)?;
    let current = |c: &str| {
        containers
            .iter()
            .find(|k| k.name == c)
            .and_then(|k| k.image.clone())
    };
    let deployment = format!("deployment/{}", ro.spec.workload_ref.name);
    let rev = if wanted.iter().all(|(c, i)| current(c).as_deref() == Some(i)) {
        let rev = revision::of_template(template);
        println!("{deployment} already runs these images: revision {rev}");
        rev
    } else {
        let patch = json!({"spec": {"template": {"spec": {"containers":
            wanted.iter().map(|(c, i)| json!({"name": c, "image": i})).collect::<Vec<_>>()}}}});
        let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
        let pp = PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PatchParams::default()
        };
        let updated = api
            .patch(&ro.spec.workload_ref.name, &pp, &Patch::Strategic(patch))
            .await?;
        let rev = revision::of_template(&updated.spec.template);
        let what: Vec<String> = wanted.iter().map(|(c, i)| format!("{c}={i}")).collect();
        println!("pushed {} to {deployment}: revision {rev}", what.join(" "));
        rev
    };
    let st = ro.status.clone().unwrap_or_default();
    if st.rejected_revisions.contains(&rev) {
        if !a.retry {
            println!(
                "revision {rev} was rolled back before and will not start: push a new \
                 release, or push again with --retry to judge it again"
            );
            return Ok(Exit::Failed);
        }
        let verb = VerbArgs {
            name: a.name.clone(),
            no_wait: false,
            timeout: Duration::from_secs(60),
            conn: a.conn.clone(),
        };
        let sent = send(Verb::Retry, verb, client.clone(), ns).await?;
        if sent != Exit::Success {
            return Ok(sent);
        }
    }
    if !a.wait {
        return Ok(Exit::Success);
    }
    let api: Api<Rollout> = Api::namespaced(client, ns);
    let goal = Goal::Promoted { revision: rev };
    Ok(finish(follow(&api, &a.name, &goal, a.timeout, true).await?))
}

async fn wait(a: WaitArgs, client: Client, ns: &str) -> Result<Exit, CliError> {
    let ro = get_rollout(&client, ns, &a.name).await?;
    let revision = match a.revision {
        Some(r) => r,
        None => {
            let d = get_workload(&client, ns, &ro).await?;
            revision::of_template(&d.spec.template)
        }
    };
    let goal = match a.for_ {
        WaitFor::Promoted => Goal::Promoted { revision },
        WaitFor::Paused => Goal::Paused { revision },
        WaitFor::Aborted => Goal::Aborted { revision },
    };
    let api: Api<Rollout> = Api::namespaced(client, ns);
    Ok(finish(follow(&api, &a.name, &goal, a.timeout, true).await?))
}

/// A command id unique enough to never collide with another's: time and randomness.
fn command_id() -> String {
    let t = Timestamp::now().strftime("%Y%m%dT%H%M%SZ");
    let r = uuid::Uuid::new_v4().simple().to_string();
    format!("{t}-{}", &r[..8])
}

async fn send(verb: Verb, a: VerbArgs, client: Client, ns: &str) -> Result<Exit, CliError> {
    get_rollout(&client, ns, &a.name).await?;
    let command = Command {
        verb,
        id: command_id(),
    };
    let api: Api<Rollout> = Api::namespaced(client, ns);
    let patch = json!({"metadata": {"annotations": {ANNOTATION: command.to_string()}}});
    let pp = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    };
    api.patch(&a.name, &pp, &Patch::Merge(patch)).await?;
    if a.no_wait {
        println!("sent {command} to rollout {}", a.name);
        return Ok(Exit::Success);
    }
    let goal = Goal::Acknowledged {
        id: command.id.clone(),
    };
    match follow(&api, &a.name, &goal, a.timeout, false).await {
        Err(CliError::Timeout(_)) => Err(CliError::Timeout(format!(
            "sent {command}, but the controller did not acknowledge it within {}s: is \
             Portcullis running and watching namespace {ns}? The command stays on the \
             Rollout and is acted on when it does",
            a.timeout.as_secs()
        ))),
        r => Ok(finish(r?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_bare_image_goes_to_the_only_container() {
        let got = images_for(&names(&["app"]), &names(&["auth:1.2"])).unwrap();
        assert_eq!(got, vec![("app".into(), "auth:1.2".into())]);
    }

    #[test]
    fn images_name_their_container_when_there_are_several() {
        let c = names(&["app", "proxy"]);
        let err = images_for(&c, &names(&["auth:1.2"]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("app, proxy") && err.contains("CONTAINER=IMAGE"),
            "{err}"
        );
        let err = images_for(&c, &names(&["web=auth:1.2"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no container `web`"), "{err}");
        let err = images_for(&c, &names(&["app=a:1", "app=a:2"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("twice"), "{err}");
        let err = images_for(&c, &names(&["app="])).unwrap_err().to_string();
        assert!(err.contains("not an image"), "{err}");
        let got = images_for(&c, &names(&["proxy=envoy:2"])).unwrap();
        assert_eq!(got, vec![("proxy".into(), "envoy:2".into())]);
    }

    #[test]
    fn command_ids_are_unique_tokens() {
        let (a, b) = (command_id(), command_id());
        assert_ne!(a, b);
        assert!(!a.contains(char::is_whitespace) && !a.contains(':'), "{a}");
    }
}
