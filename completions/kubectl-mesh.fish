# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_kubectl_mesh_global_optspecs
    string join \n kubeconfig= context= cluster= user= n/namespace= request-timeout= color= v/v= h/help V/version
end

function __fish_kubectl_mesh_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_kubectl_mesh_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_kubectl_mesh_using_subcommand
    set -l cmd (__fish_kubectl_mesh_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c kubectl-mesh -n "__fish_kubectl_mesh_needs_command" -l kubeconfig -d 'Path to the kubeconfig file to use (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)' -r -F
complete -c kubectl-mesh -n "__fish_kubectl_mesh_needs_command" -l context -d 'The name of the kubeconfig context to use (doctor: repeat it to check several clusters)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_needs_command" -l cluster -d 'The name of the kubeconfig cluster to use' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_needs_command" -l user -d 'The name of the kubeconfig user to use' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_needs_command" -s n -l namespace -d 'The namespace scope for this request (default: the context\'s namespace)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_needs_command" -l request-timeout -d 'How long to wait for a single API request before giving up, e.g. 10s, 1m; 0 waits forever' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_needs_command" -l color -d 'When to colour output; NO_COLOR in the environment means never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c kubectl-mesh -n "__fish_kubectl_mesh_needs_command" -s v -l v -d 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_needs_command" -s h -l help -d 'Print help'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_needs_command" -s V -l version -d 'Print version'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_needs_command" -f -a "shift" -d 'Shift traffic between versions of a Service by editing its mesh HTTPRoute'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_needs_command" -f -a "route-user" -d 'Send one user\'s requests (header end-user) to a version'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_needs_command" -f -a "history" -d 'Show the traffic history of a Service\'s mesh route (kept in an annotation on the route)'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_needs_command" -f -a "undo" -d 'Put back an earlier traffic state of a Service\'s mesh route (the previous one by default)'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_needs_command" -f -a "status" -d 'Show where traffic goes now: every mesh route, its rules, backends and weights'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_needs_command" -f -a "explain" -d 'Tell which mesh route, rule and backends a request to a Service takes (Gateway API precedence)'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_needs_command" -f -a "doctor" -d 'Find why mesh requests fail (stale sidecar certificates, missing sidecars, broken routes, prerequisites)'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_needs_command" -f -a "recover" -d 'Fix what doctor found by restarting exactly the affected workloads'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_needs_command" -f -a "completion" -d 'Print shell completion scripts, or install kubectl\'s plugin completion helper'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_needs_command" -f -a "version" -d 'Print the plugin version (and the cluster\'s, unless --client)'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_needs_command" -f -a "demo" -d 'Start a sandbox API server with Bookinfo and walk through the plugin against it'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand shift" -l route -d 'The route to edit when several of one kind target the Service' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand shift" -l kind -d 'The route kind: http (HTTPRoute) or grpc (GRPCRoute); by default the kind whose mesh route attaches to the Service (an HTTPRoute is created when none does)' -r -f -a "http\t'HTTPRoute'
grpc\t'GRPCRoute (gateway.networking.k8s.io/v1, Gateway API v1.1.0 and newer)'"
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand shift" -l step -d 'Walk to the target in steps of at most this many percentage points, checking readiness before and acceptance after each step' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand shift" -l interval -d 'How long to wait between steps (needs --step) [default: 60s]' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand shift" -l timeout -d 'How long --wait waits (per step with --step) [default: 60s]' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand shift" -s o -l output -d 'Output format' -r -f -a "table\t''
wide\t''
json\t''
yaml\t''"
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand shift" -l dry-run -d 'none writes; client prints what would be written; server asks the API server to validate it only' -r -f -a "none\t'Write for real'
client\t'Write nothing; print what would be sent'
server\t'Send the writes with dryRun=All: the server validates them and stores nothing'"
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand shift" -l field-manager -d 'Name of the manager recorded in managedFields for our writes' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand shift" -l kubeconfig -d 'Path to the kubeconfig file to use (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)' -r -F
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand shift" -l context -d 'The name of the kubeconfig context to use (doctor: repeat it to check several clusters)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand shift" -l cluster -d 'The name of the kubeconfig cluster to use' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand shift" -l user -d 'The name of the kubeconfig user to use' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand shift" -s n -l namespace -d 'The namespace scope for this request (default: the context\'s namespace)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand shift" -l request-timeout -d 'How long to wait for a single API request before giving up, e.g. 10s, 1m; 0 waits forever' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand shift" -l color -d 'When to colour output; NO_COLOR in the environment means never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand shift" -s v -l v -d 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand shift" -l force -d 'Proceed even when a backend has no ready endpoints, the route is owned by a controller or a GitOps tool, or Istio would ignore the route (ambient mode without a usable waypoint, a parentRef group other than "", a headless parent Service)'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand shift" -l create-backends -d 'Create missing per-version Services (SERVICE-VERSION) from the pods\' app/version labels'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand shift" -l wait -d 'After the write, wait until the mesh controller accepts the route at the written generation (Accepted and ResolvedRefs True in the status of the Service parent)'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand shift" -l rollback-on-failure -d 'When the controller rejects the change or does not confirm it in time, restore the previous state at once'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand shift" -l emit-patch -d 'Write nothing; print the change as a JSON merge patch (-o yaml for YAML) to commit to the repository a GitOps tool syncs the route from'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand shift" -l show-managed-fields -d 'If true, keep the managedFields when printing objects in JSON or YAML format (as kubectl)'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand shift" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand route-user" -l header -d 'The request header that carries the user' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand route-user" -l route -d 'The route to edit when several of one kind target the Service' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand route-user" -l kind -d 'The route kind: http (HTTPRoute) or grpc (GRPCRoute); by default the kind whose mesh route attaches to the Service (an HTTPRoute is created when none does)' -r -f -a "http\t'HTTPRoute'
grpc\t'GRPCRoute (gateway.networking.k8s.io/v1, Gateway API v1.1.0 and newer)'"
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand route-user" -l timeout -d 'How long --wait waits (per step with --step) [default: 60s]' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand route-user" -s o -l output -d 'Output format' -r -f -a "table\t''
wide\t''
json\t''
yaml\t''"
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand route-user" -l dry-run -d 'none writes; client prints what would be written; server asks the API server to validate it only' -r -f -a "none\t'Write for real'
client\t'Write nothing; print what would be sent'
server\t'Send the writes with dryRun=All: the server validates them and stores nothing'"
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand route-user" -l field-manager -d 'Name of the manager recorded in managedFields for our writes' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand route-user" -l kubeconfig -d 'Path to the kubeconfig file to use (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)' -r -F
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand route-user" -l context -d 'The name of the kubeconfig context to use (doctor: repeat it to check several clusters)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand route-user" -l cluster -d 'The name of the kubeconfig cluster to use' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand route-user" -l user -d 'The name of the kubeconfig user to use' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand route-user" -s n -l namespace -d 'The namespace scope for this request (default: the context\'s namespace)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand route-user" -l request-timeout -d 'How long to wait for a single API request before giving up, e.g. 10s, 1m; 0 waits forever' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand route-user" -l color -d 'When to colour output; NO_COLOR in the environment means never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand route-user" -s v -l v -d 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand route-user" -l remove -d 'Remove this user\'s rule instead of setting it'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand route-user" -l force -d 'Proceed even when the backend has no ready endpoints, the route is owned by a controller or a GitOps tool, or Istio would ignore the route (ambient mode without a usable waypoint, a parentRef group other than "", a headless parent Service)'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand route-user" -l create-backends -d 'Create the missing per-version Service from the pods\' app/version labels'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand route-user" -l wait -d 'After the write, wait until the mesh controller accepts the route at the written generation (Accepted and ResolvedRefs True in the status of the Service parent)'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand route-user" -l rollback-on-failure -d 'When the controller rejects the change or does not confirm it in time, restore the previous state at once'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand route-user" -l emit-patch -d 'Write nothing; print the change as a JSON merge patch (-o yaml for YAML) to commit to the repository a GitOps tool syncs the route from'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand route-user" -l show-managed-fields -d 'If true, keep the managedFields when printing objects in JSON or YAML format (as kubectl)'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand route-user" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand history" -l route -d 'The route to edit when several of one kind target the Service' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand history" -l kind -d 'The route kind: http (HTTPRoute) or grpc (GRPCRoute); by default the kind whose mesh route attaches to the Service (an HTTPRoute is created when none does)' -r -f -a "http\t'HTTPRoute'
grpc\t'GRPCRoute (gateway.networking.k8s.io/v1, Gateway API v1.1.0 and newer)'"
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand history" -s o -l output -d 'Output format' -r -f -a "table\t''
wide\t''
json\t''
yaml\t''"
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand history" -l kubeconfig -d 'Path to the kubeconfig file to use (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)' -r -F
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand history" -l context -d 'The name of the kubeconfig context to use (doctor: repeat it to check several clusters)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand history" -l cluster -d 'The name of the kubeconfig cluster to use' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand history" -l user -d 'The name of the kubeconfig user to use' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand history" -s n -l namespace -d 'The namespace scope for this request (default: the context\'s namespace)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand history" -l request-timeout -d 'How long to wait for a single API request before giving up, e.g. 10s, 1m; 0 waits forever' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand history" -l color -d 'When to colour output; NO_COLOR in the environment means never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand history" -s v -l v -d 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand history" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand undo" -l to-revision -d 'The revision to go back to (see kubectl mesh history); default: the one before the current state' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand undo" -l route -d 'The route to edit when several of one kind target the Service' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand undo" -l kind -d 'The route kind: http (HTTPRoute) or grpc (GRPCRoute); by default the kind whose mesh route attaches to the Service (an HTTPRoute is created when none does)' -r -f -a "http\t'HTTPRoute'
grpc\t'GRPCRoute (gateway.networking.k8s.io/v1, Gateway API v1.1.0 and newer)'"
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand undo" -l timeout -d 'How long --wait waits (per step with --step) [default: 60s]' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand undo" -s o -l output -d 'Output format' -r -f -a "table\t''
wide\t''
json\t''
yaml\t''"
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand undo" -l dry-run -d 'none writes; client prints what would be written; server asks the API server to validate it only' -r -f -a "none\t'Write for real'
client\t'Write nothing; print what would be sent'
server\t'Send the writes with dryRun=All: the server validates them and stores nothing'"
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand undo" -l field-manager -d 'Name of the manager recorded in managedFields for our writes' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand undo" -l kubeconfig -d 'Path to the kubeconfig file to use (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)' -r -F
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand undo" -l context -d 'The name of the kubeconfig context to use (doctor: repeat it to check several clusters)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand undo" -l cluster -d 'The name of the kubeconfig cluster to use' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand undo" -l user -d 'The name of the kubeconfig user to use' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand undo" -s n -l namespace -d 'The namespace scope for this request (default: the context\'s namespace)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand undo" -l request-timeout -d 'How long to wait for a single API request before giving up, e.g. 10s, 1m; 0 waits forever' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand undo" -l color -d 'When to colour output; NO_COLOR in the environment means never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand undo" -s v -l v -d 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand undo" -l force -d 'Restore even when a backend has no ready endpoints, or the route is owned by a controller or a GitOps tool (a backend Service that does not exist is always refused)'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand undo" -l wait -d 'After the write, wait until the mesh controller accepts the route at the written generation (Accepted and ResolvedRefs True in the status of the Service parent)'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand undo" -l rollback-on-failure -d 'When the controller rejects the change or does not confirm it in time, restore the previous state at once'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand undo" -l emit-patch -d 'Write nothing; print the change as a JSON merge patch (-o yaml for YAML) to commit to the repository a GitOps tool syncs the route from'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand undo" -l show-managed-fields -d 'If true, keep the managedFields when printing objects in JSON or YAML format (as kubectl)'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand undo" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand status" -s o -l output -d 'Output format' -r -f -a "table\t''
wide\t''
json\t''
yaml\t''"
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand status" -l kubeconfig -d 'Path to the kubeconfig file to use (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)' -r -F
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand status" -l context -d 'The name of the kubeconfig context to use (doctor: repeat it to check several clusters)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand status" -l cluster -d 'The name of the kubeconfig cluster to use' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand status" -l user -d 'The name of the kubeconfig user to use' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand status" -s n -l namespace -d 'The namespace scope for this request (default: the context\'s namespace)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand status" -l request-timeout -d 'How long to wait for a single API request before giving up, e.g. 10s, 1m; 0 waits forever' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand status" -l color -d 'When to colour output; NO_COLOR in the environment means never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand status" -s v -l v -d 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand status" -s A -l all-namespaces -d 'Act on every namespace (cannot be combined with -n)'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand status" -s h -l help -d 'Print help'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand explain" -s H -l header -d 'A request header, NAME=VALUE or "NAME: VALUE"; repeatable' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand explain" -l path -d 'The request path; a ?query part becomes query params' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand explain" -l method -d 'The request method' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand explain" -l query -d 'A query param, NAME=VALUE; repeatable (after those of --path)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand explain" -l port -d 'The Service port the request is sent to (default: the port routes use, the first http one)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand explain" -s o -l output -d 'Output format' -r -f -a "table\t''
wide\t''
json\t''
yaml\t''"
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand explain" -l kubeconfig -d 'Path to the kubeconfig file to use (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)' -r -F
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand explain" -l context -d 'The name of the kubeconfig context to use (doctor: repeat it to check several clusters)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand explain" -l cluster -d 'The name of the kubeconfig cluster to use' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand explain" -l user -d 'The name of the kubeconfig user to use' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand explain" -s n -l namespace -d 'The namespace scope for this request (default: the context\'s namespace)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand explain" -l request-timeout -d 'How long to wait for a single API request before giving up, e.g. 10s, 1m; 0 waits forever' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand explain" -l color -d 'When to colour output; NO_COLOR in the environment means never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand explain" -s v -l v -d 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand explain" -s h -l help -d 'Print help'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand doctor" -l check -d 'Only run these checks (ids or codes from --list-checks); repeatable' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand doctor" -l error -d 'Start from a failure text (an Envoy 503 body, an access-log line, curl output; - reads stdin): say which failure it is, run only the checks it calls for, scoped to the Service and namespace it names' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand doctor" -l fail-on -d 'What makes doctor exit 1: an error (default), or also a warning' -r -f -a "error\t'An unsuppressed error fails'
warning\t'An unsuppressed error or warning fails'"
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand doctor" -s f -l filename -d 'Check manifests: a file or directory of YAML/JSON (several documents each), - for stdin; repeatable. Against the cluster, the files\' objects replace the live ones and findings say what the files change' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand doctor" -l suppress -d 'Silence a known finding: CODE (or check id) everywhere, or CODE=KIND/NAMESPACE/NAME (KIND/NAME when cluster-scoped; * for any namespace or name); repeatable. The annotation mesh.kubectl.io/suppress: CODE,CODE on a resource, its workload or its namespace does the same' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand doctor" -s o -l output -d 'Output format' -r -f -a "table\t''
wide\t''
json\t''
yaml\t''
short\t'One line per error or warning (STATUS CODE ID: MESSAGE), nothing when all is well'"
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand doctor" -l kubeconfig -d 'Path to the kubeconfig file to use (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)' -r -F
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand doctor" -l context -d 'The name of the kubeconfig context to use (doctor: repeat it to check several clusters)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand doctor" -l cluster -d 'The name of the kubeconfig cluster to use' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand doctor" -l user -d 'The name of the kubeconfig user to use' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand doctor" -s n -l namespace -d 'The namespace scope for this request (default: the context\'s namespace)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand doctor" -l request-timeout -d 'How long to wait for a single API request before giving up, e.g. 10s, 1m; 0 waits forever' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand doctor" -l color -d 'When to colour output; NO_COLOR in the environment means never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand doctor" -s v -l v -d 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand doctor" -s A -l all-namespaces -d 'Act on every namespace (cannot be combined with -n)'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand doctor" -l list-checks -d 'List the checks and exit'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand doctor" -l deep -d 'Also read each sidecar\'s Envoy admin /certs through a pod port-forward to confirm stale certificates (needs get and create on pods/portforward)'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand doctor" -s R -l recursive -d 'Read directories given with -f recursively'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand doctor" -l offline -d 'With -f: check the files alone, contacting no cluster (checks that need live state are skipped)'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand doctor" -l all-contexts -d 'Check every context of the kubeconfig, concurrently (or repeat --context)'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand doctor" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand recover" -l timeout -d 'How long to wait for rollouts and for evictions blocked by a PodDisruptionBudget' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand recover" -l max-parallel -d 'How many restarts or evictions run at once' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand recover" -l suppress -d 'Silence a known finding: CODE (or check id) everywhere, or CODE=KIND/NAMESPACE/NAME (KIND/NAME when cluster-scoped; * for any namespace or name); repeatable. The annotation mesh.kubectl.io/suppress: CODE,CODE on a resource, its workload or its namespace does the same' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand recover" -s o -l output -d 'Output format' -r -f -a "table\t''
wide\t''
json\t''
yaml\t''"
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand recover" -l dry-run -d 'none writes; client prints what would be written; server asks the API server to validate it only' -r -f -a "none\t'Write for real'
client\t'Write nothing; print what would be sent'
server\t'Send the writes with dryRun=All: the server validates them and stores nothing'"
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand recover" -l field-manager -d 'Name of the manager recorded in managedFields for our writes' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand recover" -l kubeconfig -d 'Path to the kubeconfig file to use (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)' -r -F
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand recover" -l context -d 'The name of the kubeconfig context to use (doctor: repeat it to check several clusters)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand recover" -l cluster -d 'The name of the kubeconfig cluster to use' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand recover" -l user -d 'The name of the kubeconfig user to use' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand recover" -s n -l namespace -d 'The namespace scope for this request (default: the context\'s namespace)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand recover" -l request-timeout -d 'How long to wait for a single API request before giving up, e.g. 10s, 1m; 0 waits forever' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand recover" -l color -d 'When to colour output; NO_COLOR in the environment means never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand recover" -s v -l v -d 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand recover" -s A -l all-namespaces -d 'Act on every namespace (cannot be combined with -n)'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand recover" -s y -l yes -d 'Do not ask for confirmation (required when stdin or stderr is not a terminal)'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand recover" -l wait -d 'Wait for each restarted workload\'s rollout, then check again'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand recover" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand completion; and not __fish_seen_subcommand_from install help" -l kubeconfig -d 'Path to the kubeconfig file to use (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)' -r -F
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand completion; and not __fish_seen_subcommand_from install help" -l context -d 'The name of the kubeconfig context to use (doctor: repeat it to check several clusters)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand completion; and not __fish_seen_subcommand_from install help" -l cluster -d 'The name of the kubeconfig cluster to use' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand completion; and not __fish_seen_subcommand_from install help" -l user -d 'The name of the kubeconfig user to use' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand completion; and not __fish_seen_subcommand_from install help" -s n -l namespace -d 'The namespace scope for this request (default: the context\'s namespace)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand completion; and not __fish_seen_subcommand_from install help" -l request-timeout -d 'How long to wait for a single API request before giving up, e.g. 10s, 1m; 0 waits forever' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand completion; and not __fish_seen_subcommand_from install help" -l color -d 'When to colour output; NO_COLOR in the environment means never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand completion; and not __fish_seen_subcommand_from install help" -s v -l v -d 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand completion; and not __fish_seen_subcommand_from install help" -s h -l help -d 'Print help'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand completion; and not __fish_seen_subcommand_from install help" -a "install" -d 'Put kubectl_complete-mesh next to the kubectl-mesh binary so `kubectl mesh <TAB>` completes'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand completion; and not __fish_seen_subcommand_from install help" -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand completion; and __fish_seen_subcommand_from install" -l dir -d 'Directory to install into (default: the directory holding kubectl-mesh)' -r -F
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand completion; and __fish_seen_subcommand_from install" -l kubeconfig -d 'Path to the kubeconfig file to use (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)' -r -F
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand completion; and __fish_seen_subcommand_from install" -l context -d 'The name of the kubeconfig context to use (doctor: repeat it to check several clusters)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand completion; and __fish_seen_subcommand_from install" -l cluster -d 'The name of the kubeconfig cluster to use' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand completion; and __fish_seen_subcommand_from install" -l user -d 'The name of the kubeconfig user to use' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand completion; and __fish_seen_subcommand_from install" -s n -l namespace -d 'The namespace scope for this request (default: the context\'s namespace)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand completion; and __fish_seen_subcommand_from install" -l request-timeout -d 'How long to wait for a single API request before giving up, e.g. 10s, 1m; 0 waits forever' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand completion; and __fish_seen_subcommand_from install" -l color -d 'When to colour output; NO_COLOR in the environment means never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand completion; and __fish_seen_subcommand_from install" -s v -l v -d 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand completion; and __fish_seen_subcommand_from install" -s h -l help -d 'Print help'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand completion; and __fish_seen_subcommand_from help" -f -a "install" -d 'Put kubectl_complete-mesh next to the kubectl-mesh binary so `kubectl mesh <TAB>` completes'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand completion; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand version" -s o -l output -d 'Output format' -r -f -a "table\t''
wide\t''
json\t''
yaml\t''"
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand version" -l kubeconfig -d 'Path to the kubeconfig file to use (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)' -r -F
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand version" -l context -d 'The name of the kubeconfig context to use (doctor: repeat it to check several clusters)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand version" -l cluster -d 'The name of the kubeconfig cluster to use' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand version" -l user -d 'The name of the kubeconfig user to use' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand version" -s n -l namespace -d 'The namespace scope for this request (default: the context\'s namespace)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand version" -l request-timeout -d 'How long to wait for a single API request before giving up, e.g. 10s, 1m; 0 waits forever' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand version" -l color -d 'When to colour output; NO_COLOR in the environment means never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand version" -s v -l v -d 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand version" -l client -d 'Only the plugin\'s version; do not contact the cluster'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand version" -s h -l help -d 'Print help'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand demo" -l kubeconfig -d 'Path to the kubeconfig file to use (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)' -r -F
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand demo" -l context -d 'The name of the kubeconfig context to use (doctor: repeat it to check several clusters)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand demo" -l cluster -d 'The name of the kubeconfig cluster to use' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand demo" -l user -d 'The name of the kubeconfig user to use' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand demo" -s n -l namespace -d 'The namespace scope for this request (default: the context\'s namespace)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand demo" -l request-timeout -d 'How long to wait for a single API request before giving up, e.g. 10s, 1m; 0 waits forever' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand demo" -l color -d 'When to colour output; NO_COLOR in the environment means never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand demo" -s v -l v -d 'Log verbosity as in kubectl: 6 logs each request made, 8 adds request bodies (never tokens or keys)' -r
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand demo" -l serve -d 'Keep the sandbox API server running until Ctrl-C (use it from another shell with the printed kubeconfig)'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand demo" -l no-tour -d 'Skip the guided tour (with --serve: just start the sandbox)'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand demo" -s h -l help -d 'Print help'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand help; and not __fish_seen_subcommand_from shift route-user history undo status explain doctor recover completion version demo help" -f -a "shift" -d 'Shift traffic between versions of a Service by editing its mesh HTTPRoute'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand help; and not __fish_seen_subcommand_from shift route-user history undo status explain doctor recover completion version demo help" -f -a "route-user" -d 'Send one user\'s requests (header end-user) to a version'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand help; and not __fish_seen_subcommand_from shift route-user history undo status explain doctor recover completion version demo help" -f -a "history" -d 'Show the traffic history of a Service\'s mesh route (kept in an annotation on the route)'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand help; and not __fish_seen_subcommand_from shift route-user history undo status explain doctor recover completion version demo help" -f -a "undo" -d 'Put back an earlier traffic state of a Service\'s mesh route (the previous one by default)'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand help; and not __fish_seen_subcommand_from shift route-user history undo status explain doctor recover completion version demo help" -f -a "status" -d 'Show where traffic goes now: every mesh route, its rules, backends and weights'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand help; and not __fish_seen_subcommand_from shift route-user history undo status explain doctor recover completion version demo help" -f -a "explain" -d 'Tell which mesh route, rule and backends a request to a Service takes (Gateway API precedence)'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand help; and not __fish_seen_subcommand_from shift route-user history undo status explain doctor recover completion version demo help" -f -a "doctor" -d 'Find why mesh requests fail (stale sidecar certificates, missing sidecars, broken routes, prerequisites)'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand help; and not __fish_seen_subcommand_from shift route-user history undo status explain doctor recover completion version demo help" -f -a "recover" -d 'Fix what doctor found by restarting exactly the affected workloads'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand help; and not __fish_seen_subcommand_from shift route-user history undo status explain doctor recover completion version demo help" -f -a "completion" -d 'Print shell completion scripts, or install kubectl\'s plugin completion helper'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand help; and not __fish_seen_subcommand_from shift route-user history undo status explain doctor recover completion version demo help" -f -a "version" -d 'Print the plugin version (and the cluster\'s, unless --client)'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand help; and not __fish_seen_subcommand_from shift route-user history undo status explain doctor recover completion version demo help" -f -a "demo" -d 'Start a sandbox API server with Bookinfo and walk through the plugin against it'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand help; and not __fish_seen_subcommand_from shift route-user history undo status explain doctor recover completion version demo help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kubectl-mesh -n "__fish_kubectl_mesh_using_subcommand help; and __fish_seen_subcommand_from completion" -f -a "install" -d 'Put kubectl_complete-mesh next to the kubectl-mesh binary so `kubectl mesh <TAB>` completes'
