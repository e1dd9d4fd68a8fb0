"""The ``sluice`` command: flux's verbs and flags, plus the embedded cluster.

This is the only synchronous edge of Sluice: each command parses its flags,
then runs one coroutine. Errors a user can cause end as one line on stderr
and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import os
import sys
import warnings

import click

from sluice import __version__
from sluice.cli.failing import CommandError
from sluice.cli.lazy import LazyCommand, LazyGroup
from sluice.cli.options import DEFAULT_NAMESPACE, DEFAULT_TIMEOUT, Globals

# Each subcommand is imported only when it runs (see `sluice.cli.lazy`); the help
# lines are repeated here so that `sluice --help` imports none of them.
_COMMANDS = {
    "bootstrap": ("sluice.cli.bootstrap:bootstrap",
                  "Deploy the controllers on a cluster and sync it from a Git repository."),
    "build": ("sluice.cli.build:build", "Build a flux object locally."),
    "check": ("sluice.cli.check:check", "Check requirements and installation"),
    "cluster": ("sluice.cli.cluster:cluster", "Run Sluice's embedded Kubernetes-compatible cluster."),
    "completion": ("sluice.cli.completion:completion", "Generate a shell completion script"),
    "controllers": ("sluice.cli.controllers:controllers", "Run Sluice's controllers."),
    "create": ("sluice.cli.create:create", "Create or update sources and resources."),
    "debug": ("sluice.cli.debug:debug", "Debug a flux resource"),
    "delete": ("sluice.cli.delete:delete", "Delete sources and resources"),
    "diff": ("sluice.cli.diff:diff", "Diff a flux object against the cluster."),
    "envsubst": ("sluice.cli.envsubst_cmd:envsubst", "Substitute environment variables in the input"),
    "events": ("sluice.cli.events:events", "Display Kubernetes events for Flux resources"),
    "export": ("sluice.cli.export_cmd:export", "Export resources in YAML format"),
    "get": ("sluice.cli.get:get", "Get the resources and their status."),
    "install": ("sluice.cli.install:install", "Install or upgrade Sluice's controllers"),
    "logs": ("sluice.cli.logs:logs", "Display formatted logs for the controllers"),
    "reconcile": ("sluice.cli.reconcile:reconcile", "Reconcile sources and resources"),
    "resume": ("sluice.cli.suspend:resume", "Resume suspended reconciliation of sources and resources"),
    "stats": ("sluice.cli.stats:stats", "Stats of Flux reconciles"),
    "suspend": ("sluice.cli.suspend:suspend", "Suspend reconciliation of sources and resources"),
    "trace": ("sluice.cli.trace:trace", "Trace an in-cluster object throughout the GitOps delivery pipeline"),
    "tree": ("sluice.cli.tree:tree", "Print the resources reconciled by Flux."),
    "ui": ("sluice.cli.ui_cmd:ui", "Serve the web UI for the current cluster until interrupted."),
    "uninstall": ("sluice.cli.install:uninstall", "Uninstall Sluice's controllers and the Flux objects"),
    "up": ("sluice.cli.cluster:up",
           "Start the embedded cluster with Sluice's controllers, and serve until interrupted."),
    "version": ("sluice.cli.version:version", "Print the sluice version."),
}


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]},
             lazy_commands={name: LazyCommand(target, short)
                            for name, (target, short) in _COMMANDS.items()})
@click.option("-n", "--namespace", default=DEFAULT_NAMESPACE,
              help="the namespace scope for this operation")
@click.option("--kubeconfig", default=None, envvar="KUBECONFIG", help="path to the kubeconfig file")
@click.option("--context", default=None, help="kubernetes context to use")
@click.option("--timeout", default=DEFAULT_TIMEOUT, help="timeout for this operation")
@click.option("--verbose", is_flag=True, default=False, help="print generated objects")
@click.version_option(__version__, "--version", prog_name="sluice")
@click.pass_context
def cli(ctx: click.Context, namespace: str, kubeconfig: str | None, context: str | None,
        timeout: str, verbose: bool) -> None:
    """Sluice: GitOps continuous delivery that speaks the Flux APIs."""
    ctx.obj = Globals(namespace=namespace, kubeconfig=kubeconfig, context=context,
                      timeout=timeout, verbose=verbose)


def main() -> None:
    # asyncssh still names DSA types at import time and cryptography warns about each;
    # users of `create secret git` should not see five lines about a key type they
    # never chose.
    warnings.filterwarnings("ignore", module=r"asyncssh(\.|$)")
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("✗ aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        click.echo(f"✗ {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except CommandError as exc:
        click.echo(f"✗ {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("SLUICE_DEBUG"):
            raise
        click.echo(f"✗ unexpected error: {type(exc).__name__}: {exc} "
                   "(set SLUICE_DEBUG=1 for the traceback)", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
