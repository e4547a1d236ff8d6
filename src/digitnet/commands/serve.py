"""`digitnet serve [MODEL]`: the web app, on http://127.0.0.1:8000 by default."""

from __future__ import annotations

import argparse
import sys

ORDER = 60


def port_number(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number in 0..65535; got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be in 0..65535 (0 picks a free port); got {port}")
    return port


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="the web app: draw a digit and watch the network think",
        description="Serve the web app: draw a digit, see the 28×28 image the network receives, watch "
        "its layers light up, click a neuron to see what it looks for and change its bias or weights. "
        "Without MODEL: the model you trained most recently, else the pretrained 3b1b network.",
    )
    parser.add_argument("model", metavar="MODEL", nargs="?", help="a .safetensors model file")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=port_number, default=8000, help="port (default 8000; 0 picks a free one)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        from digitnet.web import choose_model, create_app
        from digitnet.web.server import bind, is_loopback, make_server, url_of
    except ImportError as error:
        print(f"digitnet: error: the web app needs the 'web' extra ({error.name} is missing); "
              "install it with: pip install 'digitnet[web]'", file=sys.stderr)
        return 1

    path, why = choose_model(args.model)
    app = create_app(path)
    sock = bind(args.host, args.port)
    net = app.state.served.net
    accuracy = (net.metadata.get("metrics") or {}).get("test_accuracy")
    print(why)
    print(f"Network {'-'.join(map(str, net.sizes))}, {net.num_parameters:,} parameters"
          + (f", test accuracy {accuracy:.2%}." if isinstance(accuracy, (int, float)) else "."))
    if not is_loopback(args.host):
        print(f"Warning: listening on {args.host}: anyone who can reach this machine can use the app. "
              "On the internet, put a reverse proxy with TLS in front (README: Deploying publicly).")
    print(f"Open {url_of(sock)} in a browser (Ctrl+C stops).", flush=True)
    try:
        make_server(app, sock).run(sockets=[sock])
    finally:
        sock.close()
    return 0
