"""The ``sluice`` command: flux's verbs and flags, plus the embedded cluster.

This is the only synchronous edge of Sluice: each command parses its flags,
then runs one coroutine. Errors a user can cause end as one line on stderr
and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import os
import sys

import click

from sluice import __version__
from sluice.cli.failing import CommandError
from sluice.cli.options import DEFAULT_NAMESPACE, DEFAULT_TIMEOUT, Globals


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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


def _register() -> None:
    # Imported here so that each command module stays independent of the others.
    from sluice.cli import (
        bootstrap,
        build,
        check,
        cluster,
        completion,
        controllers,
        create,
        delete,
        diff,
        envsubst_cmd,
        events,
        export_cmd,
        get,
        install,
        logs,
        reconcile,
        stats,
        suspend,
        trace,
        tree,
        version,
    )

    cli.add_command(cluster.cluster)
    cli.add_command(controllers.controllers)
    cli.add_command(create.create)
    cli.add_command(cluster.up)
    cli.add_command(version.version)
    for command in (get.get, reconcile.reconcile, suspend.suspend, suspend.resume,
                    delete.delete, export_cmd.export, events.events, tree.tree,
                    envsubst_cmd.envsubst, build.build, diff.diff, install.install,
                    install.uninstall, bootstrap.bootstrap, check.check,
                    completion.completion, stats.stats, trace.trace, logs.logs):
        cli.add_command(command)


_register()


def main() -> None:
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
