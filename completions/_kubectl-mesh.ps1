
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'kubectl-mesh' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'kubectl-mesh'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'kubectl-mesh' {
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file to use (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The name of the kubeconfig context to use (doctor: repeat it to check several clusters)')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The name of the kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The name of the kubeconfig user to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace scope for this request (default: the context''s namespace)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace scope for this request (default: the context''s namespace)')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'How long to wait for a single API request before giving up, e.g. 10s, 1m; 0 waits forever')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output; NO_COLOR in the environment means never')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)')
            [CompletionResult]::new('--v', '--v', [CompletionResultType]::ParameterName, 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('shift', 'shift', [CompletionResultType]::ParameterValue, 'Shift traffic between versions of a Service by editing its mesh HTTPRoute')
            [CompletionResult]::new('route-user', 'route-user', [CompletionResultType]::ParameterValue, 'Send one user''s requests (header end-user) to a version')
            [CompletionResult]::new('history', 'history', [CompletionResultType]::ParameterValue, 'Show the traffic history of a Service''s mesh route (kept in an annotation on the route)')
            [CompletionResult]::new('undo', 'undo', [CompletionResultType]::ParameterValue, 'Put back an earlier traffic state of a Service''s mesh route (the previous one by default)')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show where traffic goes now: every mesh route, its rules, backends and weights')
            [CompletionResult]::new('explain', 'explain', [CompletionResultType]::ParameterValue, 'Tell which mesh route, rule and backends a request to a Service takes (Gateway API precedence)')
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Find why mesh requests fail (stale sidecar certificates, missing sidecars, broken routes, prerequisites)')
            [CompletionResult]::new('recover', 'recover', [CompletionResultType]::ParameterValue, 'Fix what doctor found by restarting exactly the affected workloads')
            [CompletionResult]::new('completion', 'completion', [CompletionResultType]::ParameterValue, 'Print shell completion scripts, or install kubectl''s plugin completion helper')
            [CompletionResult]::new('version', 'version', [CompletionResultType]::ParameterValue, 'Print the plugin version (and the cluster''s, unless --client)')
            [CompletionResult]::new('demo', 'demo', [CompletionResultType]::ParameterValue, 'Start a sandbox API server with Bookinfo and walk through the plugin against it')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'kubectl-mesh;shift' {
            [CompletionResult]::new('--route', '--route', [CompletionResultType]::ParameterName, 'The route to edit when several of one kind target the Service')
            [CompletionResult]::new('--kind', '--kind', [CompletionResultType]::ParameterName, 'The route kind: http (HTTPRoute) or grpc (GRPCRoute); by default the kind whose mesh route attaches to the Service (an HTTPRoute is created when none does)')
            [CompletionResult]::new('--step', '--step', [CompletionResultType]::ParameterName, 'Walk to the target in steps of at most this many percentage points, checking readiness before and acceptance after each step')
            [CompletionResult]::new('--interval', '--interval', [CompletionResultType]::ParameterName, 'How long to wait between steps (needs --step) [default: 60s]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long --wait waits (per step with --step) [default: 60s]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'none writes; client prints what would be written; server asks the API server to validate it only')
            [CompletionResult]::new('--field-manager', '--field-manager', [CompletionResultType]::ParameterName, 'Name of the manager recorded in managedFields for our writes')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file to use (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The name of the kubeconfig context to use (doctor: repeat it to check several clusters)')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The name of the kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The name of the kubeconfig user to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace scope for this request (default: the context''s namespace)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace scope for this request (default: the context''s namespace)')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'How long to wait for a single API request before giving up, e.g. 10s, 1m; 0 waits forever')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output; NO_COLOR in the environment means never')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)')
            [CompletionResult]::new('--v', '--v', [CompletionResultType]::ParameterName, 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Proceed even when a backend has no ready endpoints, the route is owned by a controller or a GitOps tool, or Istio would ignore the route (ambient mode without a usable waypoint, a parentRef group other than "", a headless parent Service)')
            [CompletionResult]::new('--create-backends', '--create-backends', [CompletionResultType]::ParameterName, 'Create missing per-version Services (SERVICE-VERSION) from the pods'' app/version labels')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'After the write, wait until the mesh controller accepts the route at the written generation (Accepted and ResolvedRefs True in the status of the Service parent)')
            [CompletionResult]::new('--rollback-on-failure', '--rollback-on-failure', [CompletionResultType]::ParameterName, 'When the controller rejects the change or does not confirm it in time, restore the previous state at once')
            [CompletionResult]::new('--emit-patch', '--emit-patch', [CompletionResultType]::ParameterName, 'Write nothing; print the change as a JSON merge patch (-o yaml for YAML) to commit to the repository a GitOps tool syncs the route from')
            [CompletionResult]::new('--show-managed-fields', '--show-managed-fields', [CompletionResultType]::ParameterName, 'If true, keep the managedFields when printing objects in JSON or YAML format (as kubectl)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'kubectl-mesh;route-user' {
            [CompletionResult]::new('--header', '--header', [CompletionResultType]::ParameterName, 'The request header that carries the user')
            [CompletionResult]::new('--route', '--route', [CompletionResultType]::ParameterName, 'The route to edit when several of one kind target the Service')
            [CompletionResult]::new('--kind', '--kind', [CompletionResultType]::ParameterName, 'The route kind: http (HTTPRoute) or grpc (GRPCRoute); by default the kind whose mesh route attaches to the Service (an HTTPRoute is created when none does)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long --wait waits (per step with --step) [default: 60s]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'none writes; client prints what would be written; server asks the API server to validate it only')
            [CompletionResult]::new('--field-manager', '--field-manager', [CompletionResultType]::ParameterName, 'Name of the manager recorded in managedFields for our writes')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file to use (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The name of the kubeconfig context to use (doctor: repeat it to check several clusters)')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The name of the kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The name of the kubeconfig user to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace scope for this request (default: the context''s namespace)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace scope for this request (default: the context''s namespace)')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'How long to wait for a single API request before giving up, e.g. 10s, 1m; 0 waits forever')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output; NO_COLOR in the environment means never')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)')
            [CompletionResult]::new('--v', '--v', [CompletionResultType]::ParameterName, 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)')
            [CompletionResult]::new('--remove', '--remove', [CompletionResultType]::ParameterName, 'Remove this user''s rule instead of setting it')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Proceed even when the backend has no ready endpoints, the route is owned by a controller or a GitOps tool, or Istio would ignore the route (ambient mode without a usable waypoint, a parentRef group other than "", a headless parent Service)')
            [CompletionResult]::new('--create-backends', '--create-backends', [CompletionResultType]::ParameterName, 'Create the missing per-version Service from the pods'' app/version labels')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'After the write, wait until the mesh controller accepts the route at the written generation (Accepted and ResolvedRefs True in the status of the Service parent)')
            [CompletionResult]::new('--rollback-on-failure', '--rollback-on-failure', [CompletionResultType]::ParameterName, 'When the controller rejects the change or does not confirm it in time, restore the previous state at once')
            [CompletionResult]::new('--emit-patch', '--emit-patch', [CompletionResultType]::ParameterName, 'Write nothing; print the change as a JSON merge patch (-o yaml for YAML) to commit to the repository a GitOps tool syncs the route from')
            [CompletionResult]::new('--show-managed-fields', '--show-managed-fields', [CompletionResultType]::ParameterName, 'If true, keep the managedFields when printing objects in JSON or YAML format (as kubectl)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'kubectl-mesh;history' {
            [CompletionResult]::new('--route', '--route', [CompletionResultType]::ParameterName, 'The route to edit when several of one kind target the Service')
            [CompletionResult]::new('--kind', '--kind', [CompletionResultType]::ParameterName, 'The route kind: http (HTTPRoute) or grpc (GRPCRoute); by default the kind whose mesh route attaches to the Service (an HTTPRoute is created when none does)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file to use (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The name of the kubeconfig context to use (doctor: repeat it to check several clusters)')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The name of the kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The name of the kubeconfig user to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace scope for this request (default: the context''s namespace)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace scope for this request (default: the context''s namespace)')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'How long to wait for a single API request before giving up, e.g. 10s, 1m; 0 waits forever')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output; NO_COLOR in the environment means never')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)')
            [CompletionResult]::new('--v', '--v', [CompletionResultType]::ParameterName, 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'kubectl-mesh;undo' {
            [CompletionResult]::new('--to-revision', '--to-revision', [CompletionResultType]::ParameterName, 'The revision to go back to (see kubectl mesh history); default: the one before the current state')
            [CompletionResult]::new('--route', '--route', [CompletionResultType]::ParameterName, 'The route to edit when several of one kind target the Service')
            [CompletionResult]::new('--kind', '--kind', [CompletionResultType]::ParameterName, 'The route kind: http (HTTPRoute) or grpc (GRPCRoute); by default the kind whose mesh route attaches to the Service (an HTTPRoute is created when none does)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long --wait waits (per step with --step) [default: 60s]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'none writes; client prints what would be written; server asks the API server to validate it only')
            [CompletionResult]::new('--field-manager', '--field-manager', [CompletionResultType]::ParameterName, 'Name of the manager recorded in managedFields for our writes')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file to use (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The name of the kubeconfig context to use (doctor: repeat it to check several clusters)')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The name of the kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The name of the kubeconfig user to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace scope for this request (default: the context''s namespace)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace scope for this request (default: the context''s namespace)')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'How long to wait for a single API request before giving up, e.g. 10s, 1m; 0 waits forever')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output; NO_COLOR in the environment means never')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)')
            [CompletionResult]::new('--v', '--v', [CompletionResultType]::ParameterName, 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Restore even when a backend has no ready endpoints, or the route is owned by a controller or a GitOps tool (a backend Service that does not exist is always refused)')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'After the write, wait until the mesh controller accepts the route at the written generation (Accepted and ResolvedRefs True in the status of the Service parent)')
            [CompletionResult]::new('--rollback-on-failure', '--rollback-on-failure', [CompletionResultType]::ParameterName, 'When the controller rejects the change or does not confirm it in time, restore the previous state at once')
            [CompletionResult]::new('--emit-patch', '--emit-patch', [CompletionResultType]::ParameterName, 'Write nothing; print the change as a JSON merge patch (-o yaml for YAML) to commit to the repository a GitOps tool syncs the route from')
            [CompletionResult]::new('--show-managed-fields', '--show-managed-fields', [CompletionResultType]::ParameterName, 'If true, keep the managedFields when printing objects in JSON or YAML format (as kubectl)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'kubectl-mesh;status' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file to use (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The name of the kubeconfig context to use (doctor: repeat it to check several clusters)')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The name of the kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The name of the kubeconfig user to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace scope for this request (default: the context''s namespace)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace scope for this request (default: the context''s namespace)')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'How long to wait for a single API request before giving up, e.g. 10s, 1m; 0 waits forever')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output; NO_COLOR in the environment means never')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)')
            [CompletionResult]::new('--v', '--v', [CompletionResultType]::ParameterName, 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)')
            [CompletionResult]::new('-A', '-A ', [CompletionResultType]::ParameterName, 'Act on every namespace (cannot be combined with -n)')
            [CompletionResult]::new('--all-namespaces', '--all-namespaces', [CompletionResultType]::ParameterName, 'Act on every namespace (cannot be combined with -n)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'kubectl-mesh;explain' {
            [CompletionResult]::new('-H', '-H ', [CompletionResultType]::ParameterName, 'A request header, NAME=VALUE or "NAME: VALUE"; repeatable')
            [CompletionResult]::new('--header', '--header', [CompletionResultType]::ParameterName, 'A request header, NAME=VALUE or "NAME: VALUE"; repeatable')
            [CompletionResult]::new('--path', '--path', [CompletionResultType]::ParameterName, 'The request path; a ?query part becomes query params')
            [CompletionResult]::new('--method', '--method', [CompletionResultType]::ParameterName, 'The request method')
            [CompletionResult]::new('--query', '--query', [CompletionResultType]::ParameterName, 'A query param, NAME=VALUE; repeatable (after those of --path)')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'The Service port the request is sent to (default: the port routes use, the first http one)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file to use (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The name of the kubeconfig context to use (doctor: repeat it to check several clusters)')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The name of the kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The name of the kubeconfig user to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace scope for this request (default: the context''s namespace)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace scope for this request (default: the context''s namespace)')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'How long to wait for a single API request before giving up, e.g. 10s, 1m; 0 waits forever')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output; NO_COLOR in the environment means never')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)')
            [CompletionResult]::new('--v', '--v', [CompletionResultType]::ParameterName, 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'kubectl-mesh;doctor' {
            [CompletionResult]::new('--check', '--check', [CompletionResultType]::ParameterName, 'Only run these checks (ids or codes from --list-checks); repeatable')
            [CompletionResult]::new('--error', '--error', [CompletionResultType]::ParameterName, 'Start from a failure text (an Envoy 503 body, an access-log line, curl output; - reads stdin): say which failure it is, run only the checks it calls for, scoped to the Service and namespace it names')
            [CompletionResult]::new('--fail-on', '--fail-on', [CompletionResultType]::ParameterName, 'What makes doctor exit 1: an error (default), or also a warning')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Check manifests: a file or directory of YAML/JSON (several documents each), - for stdin; repeatable. Against the cluster, the files'' objects replace the live ones and findings say what the files change')
            [CompletionResult]::new('--filename', '--filename', [CompletionResultType]::ParameterName, 'Check manifests: a file or directory of YAML/JSON (several documents each), - for stdin; repeatable. Against the cluster, the files'' objects replace the live ones and findings say what the files change')
            [CompletionResult]::new('--suppress', '--suppress', [CompletionResultType]::ParameterName, 'Silence a known finding: CODE (or check id) everywhere, or CODE=KIND/NAMESPACE/NAME (KIND/NAME when cluster-scoped; * for any namespace or name); repeatable. The annotation mesh.kubectl.io/suppress: CODE,CODE on a resource, its workload or its namespace does the same')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file to use (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The name of the kubeconfig context to use (doctor: repeat it to check several clusters)')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The name of the kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The name of the kubeconfig user to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace scope for this request (default: the context''s namespace)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace scope for this request (default: the context''s namespace)')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'How long to wait for a single API request before giving up, e.g. 10s, 1m; 0 waits forever')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output; NO_COLOR in the environment means never')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)')
            [CompletionResult]::new('--v', '--v', [CompletionResultType]::ParameterName, 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)')
            [CompletionResult]::new('-A', '-A ', [CompletionResultType]::ParameterName, 'Act on every namespace (cannot be combined with -n)')
            [CompletionResult]::new('--all-namespaces', '--all-namespaces', [CompletionResultType]::ParameterName, 'Act on every namespace (cannot be combined with -n)')
            [CompletionResult]::new('--list-checks', '--list-checks', [CompletionResultType]::ParameterName, 'List the checks and exit')
            [CompletionResult]::new('--deep', '--deep', [CompletionResultType]::ParameterName, 'Also read each sidecar''s Envoy admin /certs through a pod port-forward to confirm stale certificates (needs get and create on pods/portforward)')
            [CompletionResult]::new('-R', '-R ', [CompletionResultType]::ParameterName, 'Read directories given with -f recursively')
            [CompletionResult]::new('--recursive', '--recursive', [CompletionResultType]::ParameterName, 'Read directories given with -f recursively')
            [CompletionResult]::new('--offline', '--offline', [CompletionResultType]::ParameterName, 'With -f: check the files alone, contacting no cluster (checks that need live state are skipped)')
            [CompletionResult]::new('--all-contexts', '--all-contexts', [CompletionResultType]::ParameterName, 'Check every context of the kubeconfig, concurrently (or repeat --context)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'kubectl-mesh;recover' {
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long to wait for rollouts and for evictions blocked by a PodDisruptionBudget')
            [CompletionResult]::new('--max-parallel', '--max-parallel', [CompletionResultType]::ParameterName, 'How many restarts or evictions run at once')
            [CompletionResult]::new('--suppress', '--suppress', [CompletionResultType]::ParameterName, 'Silence a known finding: CODE (or check id) everywhere, or CODE=KIND/NAMESPACE/NAME (KIND/NAME when cluster-scoped; * for any namespace or name); repeatable. The annotation mesh.kubectl.io/suppress: CODE,CODE on a resource, its workload or its namespace does the same')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'none writes; client prints what would be written; server asks the API server to validate it only')
            [CompletionResult]::new('--field-manager', '--field-manager', [CompletionResultType]::ParameterName, 'Name of the manager recorded in managedFields for our writes')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file to use (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The name of the kubeconfig context to use (doctor: repeat it to check several clusters)')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The name of the kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The name of the kubeconfig user to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace scope for this request (default: the context''s namespace)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace scope for this request (default: the context''s namespace)')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'How long to wait for a single API request before giving up, e.g. 10s, 1m; 0 waits forever')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output; NO_COLOR in the environment means never')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)')
            [CompletionResult]::new('--v', '--v', [CompletionResultType]::ParameterName, 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)')
            [CompletionResult]::new('-A', '-A ', [CompletionResultType]::ParameterName, 'Act on every namespace (cannot be combined with -n)')
            [CompletionResult]::new('--all-namespaces', '--all-namespaces', [CompletionResultType]::ParameterName, 'Act on every namespace (cannot be combined with -n)')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not ask for confirmation (required when stdin or stderr is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask for confirmation (required when stdin or stderr is not a terminal)')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'Wait for each restarted workload''s rollout, then check again')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'kubectl-mesh;completion' {
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file to use (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The name of the kubeconfig context to use (doctor: repeat it to check several clusters)')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The name of the kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The name of the kubeconfig user to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace scope for this request (default: the context''s namespace)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace scope for this request (default: the context''s namespace)')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'How long to wait for a single API request before giving up, e.g. 10s, 1m; 0 waits forever')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output; NO_COLOR in the environment means never')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)')
            [CompletionResult]::new('--v', '--v', [CompletionResultType]::ParameterName, 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('install', 'install', [CompletionResultType]::ParameterValue, 'Put kubectl_complete-mesh next to the kubectl-mesh binary so `kubectl mesh <TAB>` completes')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'kubectl-mesh;completion;install' {
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Directory to install into (default: the directory holding kubectl-mesh)')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file to use (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The name of the kubeconfig context to use (doctor: repeat it to check several clusters)')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The name of the kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The name of the kubeconfig user to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace scope for this request (default: the context''s namespace)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace scope for this request (default: the context''s namespace)')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'How long to wait for a single API request before giving up, e.g. 10s, 1m; 0 waits forever')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output; NO_COLOR in the environment means never')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)')
            [CompletionResult]::new('--v', '--v', [CompletionResultType]::ParameterName, 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'kubectl-mesh;completion;help' {
            [CompletionResult]::new('install', 'install', [CompletionResultType]::ParameterValue, 'Put kubectl_complete-mesh next to the kubectl-mesh binary so `kubectl mesh <TAB>` completes')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'kubectl-mesh;completion;help;install' {
            break
        }
        'kubectl-mesh;completion;help;help' {
            break
        }
        'kubectl-mesh;version' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file to use (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The name of the kubeconfig context to use (doctor: repeat it to check several clusters)')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The name of the kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The name of the kubeconfig user to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace scope for this request (default: the context''s namespace)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace scope for this request (default: the context''s namespace)')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'How long to wait for a single API request before giving up, e.g. 10s, 1m; 0 waits forever')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output; NO_COLOR in the environment means never')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)')
            [CompletionResult]::new('--v', '--v', [CompletionResultType]::ParameterName, 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)')
            [CompletionResult]::new('--client', '--client', [CompletionResultType]::ParameterName, 'Only the plugin''s version; do not contact the cluster')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'kubectl-mesh;demo' {
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file to use (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The name of the kubeconfig context to use (doctor: repeat it to check several clusters)')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The name of the kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The name of the kubeconfig user to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace scope for this request (default: the context''s namespace)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace scope for this request (default: the context''s namespace)')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'How long to wait for a single API request before giving up, e.g. 10s, 1m; 0 waits forever')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour output; NO_COLOR in the environment means never')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)')
            [CompletionResult]::new('--v', '--v', [CompletionResultType]::ParameterName, 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)')
            [CompletionResult]::new('--serve', '--serve', [CompletionResultType]::ParameterName, 'Keep the sandbox API server running until Ctrl-C (use it from another shell with the printed kubeconfig)')
            [CompletionResult]::new('--no-tour', '--no-tour', [CompletionResultType]::ParameterName, 'Skip the guided tour (with --serve: just start the sandbox)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'kubectl-mesh;help' {
            [CompletionResult]::new('shift', 'shift', [CompletionResultType]::ParameterValue, 'Shift traffic between versions of a Service by editing its mesh HTTPRoute')
            [CompletionResult]::new('route-user', 'route-user', [CompletionResultType]::ParameterValue, 'Send one user''s requests (header end-user) to a version')
            [CompletionResult]::new('history', 'history', [CompletionResultType]::ParameterValue, 'Show the traffic history of a Service''s mesh route (kept in an annotation on the route)')
            [CompletionResult]::new('undo', 'undo', [CompletionResultType]::ParameterValue, 'Put back an earlier traffic state of a Service''s mesh route (the previous one by default)')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show where traffic goes now: every mesh route, its rules, backends and weights')
            [CompletionResult]::new('explain', 'explain', [CompletionResultType]::ParameterValue, 'Tell which mesh route, rule and backends a request to a Service takes (Gateway API precedence)')
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Find why mesh requests fail (stale sidecar certificates, missing sidecars, broken routes, prerequisites)')
            [CompletionResult]::new('recover', 'recover', [CompletionResultType]::ParameterValue, 'Fix what doctor found by restarting exactly the affected workloads')
            [CompletionResult]::new('completion', 'completion', [CompletionResultType]::ParameterValue, 'Print shell completion scripts, or install kubectl''s plugin completion helper')
            [CompletionResult]::new('version', 'version', [CompletionResultType]::ParameterValue, 'Print the plugin version (and the cluster''s, unless --client)')
            [CompletionResult]::new('demo', 'demo', [CompletionResultType]::ParameterValue, 'Start a sandbox API server with Bookinfo and walk through the plugin against it')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'kubectl-mesh;help;shift' {
            break
        }
        'kubectl-mesh;help;route-user' {
            break
        }
        'kubectl-mesh;help;history' {
            break
        }
        'kubectl-mesh;help;undo' {
            break
        }
        'kubectl-mesh;help;status' {
            break
        }
        'kubectl-mesh;help;explain' {
            break
        }
        'kubectl-mesh;help;doctor' {
            break
        }
        'kubectl-mesh;help;recover' {
            break
        }
        'kubectl-mesh;help;completion' {
            [CompletionResult]::new('install', 'install', [CompletionResultType]::ParameterValue, 'Put kubectl_complete-mesh next to the kubectl-mesh binary so `kubectl mesh <TAB>` completes')
            break
        }
        'kubectl-mesh;help;completion;install' {
            break
        }
        'kubectl-mesh;help;version' {
            break
        }
        'kubectl-mesh;help;demo' {
            break
        }
        'kubectl-mesh;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
