import subprocess
import sys


def test_import_is_light():
    code = ("import sys, idscope; heavy = [m for m in ('matplotlib', 'pandas', 'ray', "
            "'transformers') if m in sys.modules]; print(heavy); assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cli_estimate_all(capsys):
    from idscope.cli.main import main

    assert main(["estimate", "sklearn:digits", "--method", "all"]) == 0
    out = capsys.readouterr().out
    for name in ("twonn", "mle", "gride", "pca"):
        assert name in out
