"""One module per `digitnet` subcommand; each defines ORDER and register(subparsers)."""
