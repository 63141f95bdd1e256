def test_cli_estimate_all(capsys):
    from idscope.cli.main import main

    assert main(["estimate", "sklearn:digits", "--method", "all"]) == 0
    out = capsys.readouterr().out
    for name in ("twonn", "mle", "gride", "pca"):
        assert name in out
