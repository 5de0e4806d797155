//! Table-driven parse tests of the command line: what kubectl users type must parse, and mistakes must be usage
//! errors (exit 2) before anything touches a cluster.

use clap::error::ErrorKind;
use clap::CommandFactory;
use kubectl_mesh::cli::{DryRunOpt as DryRun, OutputFormatOpt as OutputFormat};
use kubectl_mesh::cmd::{Cli, Command};

fn parse(line: &str) -> Result<Cli, clap::Error> {
    let mut argv = vec!["kubectl-mesh"];
    argv.extend(line.split_whitespace());
    Cli::parse_from_args(argv)
}

#[test]
fn cli_definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn valid_command_lines_parse() {
    let ok = [
        "shift reviews v3=100",
        "shift reviews v1=50 v3=50 -n istio-demo",
        "shift reviews v1=50 v2=25 v3=25 --route reviews --force --create-backends",
        "shift reviews v3=10 --dry-run=client -o yaml",
        "shift reviews v3=10 --dry-run",
        "shift reviews v3=10 --dry-run=server --field-manager me",
        "-n istio-demo shift reviews v3=100",
        "--kubeconfig /tmp/k --context c --cluster x --user u shift reviews v3=100",
        "route-user reviews vijay v2",
        "route-user reviews vijay --remove",
        "route-user reviews vijay v2 --header x-user -o json",
        "shift reviews v3=100 --wait --timeout 2m --rollback-on-failure",
        "shift reviews v3=100 --step 25 --interval 30s",
        "shift reviews v3=100 --step 25 --interval 0 --rollback-on-failure --timeout 10s",
        "shift grpc-echo v2=20 --kind grpc",
        "shift reviews v3=100 --emit-patch -o yaml",
        "shift reviews v3=100 -o yaml --show-managed-fields",
        "route-user reviews vijay v2 --wait --kind http --emit-patch",
        "history reviews",
        "history reviews -o json --kind grpc --route reviews-grpc",
        "undo reviews",
        "undo reviews --to-revision 3 --wait --rollback-on-failure",
        "undo reviews --dry-run=server -o yaml --force",
        "status",
        "status reviews -o wide",
        "status -A -o json",
        "doctor",
        "doctor -A -o json",
        "doctor --list-checks",
        "doctor --check stale-sidecar-cert --check sidecar-missing",
        "doctor --deep",
        "doctor --deep --check stale-sidecar-cert-deep -o json",
        "doctor -f manifests/ -R --offline -o json",
        "doctor -f a.yaml -f - --filename b.yaml",
        "doctor --context east --context west",
        "doctor --all-contexts -A",
        "explain reviews",
        "explain reviews -H end-user=jason -H x-debug:1 --path /reviews/0 --method POST --query a=1 --port 9080 -o wide",
        "recover -y",
        "recover -A --yes --wait --timeout 2m --max-parallel 4",
        "recover --dry-run=client",
        "completion bash",
        "completion zsh",
        "completion fish",
        "completion powershell",
        "completion install",
        "version",
        "version --client -o json",
        "demo",
        "demo --serve",
        "status --request-timeout 5s",
        "status --request-timeout 5",
        "status --request-timeout 0",
        "status --color never",
        "status -v 6",
        "status --v=8",
    ];
    for line in ok {
        if let Err(e) = parse(line) {
            panic!("{line:?} should parse: {e}");
        }
    }
}

#[test]
fn invalid_command_lines_are_usage_errors() {
    let bad = [
        ("", ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand),
        ("shift", ErrorKind::MissingRequiredArgument),
        ("shift reviews", ErrorKind::MissingRequiredArgument),
        ("frobnicate", ErrorKind::InvalidSubcommand),
        ("status -o xml", ErrorKind::InvalidValue),
        ("status --color sometimes", ErrorKind::InvalidValue),
        ("shift reviews v3=10 --dry-run=maybe", ErrorKind::InvalidValue),
        ("status --request-timeout 5x", ErrorKind::ValueValidation),
        ("status --request-timeout -1s", ErrorKind::UnknownArgument),
        ("recover --timeout 5", ErrorKind::ValueValidation),
        ("recover --max-parallel 0", ErrorKind::ValueValidation),
        ("recover --max-parallel lots", ErrorKind::ValueValidation),
        ("route-user reviews vijay", ErrorKind::MissingRequiredArgument),
        ("route-user reviews vijay v2 --remove", ErrorKind::ArgumentConflict),
        ("status -v 11", ErrorKind::ValueValidation),
        ("completion tcsh", ErrorKind::InvalidValue),
        ("version --bogus", ErrorKind::UnknownArgument),
        ("doctor --deep=yes", ErrorKind::TooManyValues),
        ("doctor --offline", ErrorKind::MissingRequiredArgument),
        ("doctor -R", ErrorKind::MissingRequiredArgument),
        ("explain", ErrorKind::MissingRequiredArgument),
        ("explain reviews --port 70000", ErrorKind::ValueValidation),
    ];
    for (line, kind) in bad {
        match parse(line) {
            Ok(cli) => panic!("{line:?} should fail, parsed as {:?}", cli.command),
            Err(e) => assert_eq!(e.kind(), kind, "{line:?}: {e}"),
        }
    }
}

#[test]
fn a_repeated_flag_takes_its_last_value_like_kubectl() {
    let cli = parse("-n a status -n b --kubeconfig x --kubeconfig y -o json -o yaml").unwrap();
    assert_eq!(cli.global.namespace.as_deref(), Some("b"));
    assert_eq!(cli.global.kubeconfig.as_deref(), Some(std::path::Path::new("y")));
    match cli.command {
        Command::Status(a) => assert_eq!(a.output.output, OutputFormat::Yaml),
        other => panic!("parsed as {other:?}"),
    }
}

#[test]
fn positional_user_does_not_clobber_the_kubeconfig_user_flag() {
    let cli = parse("route-user reviews vijay v2").unwrap();
    assert_eq!(cli.global.user, None);
    match cli.command {
        Command::RouteUser(a) => assert_eq!(a.user, "vijay"),
        other => panic!("parsed as {other:?}"),
    }
    let cli = parse("route-user reviews vijay v2 --user admin").unwrap();
    assert_eq!(cli.global.user.as_deref(), Some("admin"));
}

#[test]
fn parsed_values_mean_what_kubectl_users_expect() {
    let cli = parse("-n istio-demo shift reviews v1=90 v3=10 --dry-run -o yaml").unwrap();
    assert_eq!(cli.global.namespace.as_deref(), Some("istio-demo"));
    match cli.command {
        Command::Shift(a) => {
            assert_eq!(a.weights, ["v1=90", "v3=10"]);
            assert_eq!(
                a.write.dry_run,
                DryRun::Client,
                "bare --dry-run means client, as in kubectl"
            );
            assert_eq!(a.write.field_manager, "kubectl-mesh");
            assert_eq!(a.output.output, OutputFormat::Yaml);
        }
        other => panic!("parsed as {other:?}"),
    }
    let cli = parse("status --request-timeout 1m30s").unwrap();
    assert_eq!(cli.global.request_timeout, std::time::Duration::from_secs(90));
    let cli = parse("recover").unwrap();
    match cli.command {
        Command::Recover(a) => {
            assert_eq!(a.max_parallel, 8);
            assert_eq!(a.timeout, std::time::Duration::from_secs(300));
            assert!(!a.yes);
        }
        other => panic!("parsed as {other:?}"),
    }
}

#[test]
fn context_repeats_for_doctor_and_the_last_one_counts_elsewhere() {
    let cli = parse("--context a doctor --context b").unwrap();
    assert_eq!(cli.global.context, ["a", "b"]);
    let cli = parse("--context a status --context b").unwrap();
    assert_eq!(cli.global.context.last().map(String::as_str), Some("b"));
    let cli = parse("explain reviews -H a=1 -H b=2 --query x=1 --query y=2").unwrap();
    match cli.command {
        Command::Explain(a) => {
            assert_eq!(a.headers, ["a=1", "b=2"]);
            assert_eq!(a.query, ["x=1", "y=2"]);
            assert_eq!(a.path, "/");
            assert_eq!(a.method, "GET");
        }
        other => panic!("parsed as {other:?}"),
    }
    let cli = parse("doctor -f a -f b").unwrap();
    match cli.command {
        Command::Doctor(a) => assert_eq!(a.filenames, ["a", "b"]),
        other => panic!("parsed as {other:?}"),
    }
}
