"""Options shared by several subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path

from standardiste.config import Config, load_config


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        "--practice",
        dest="config",
        type=Path,
        default=None,
        help="fichier de configuration TOML (défaut : le cabinet de démonstration)",
    )


def config_from(args: argparse.Namespace) -> Config:
    return load_config(args.config)
