"""`make token ROLE=...`: a JWT the locally running gateway accepts, for trying the API as that role."""

import jwt

from crm_shared.launcher import JWT_AUDIENCE, JWT_ISSUER, dev_credentials, main


def test_token_for_a_role_is_signed_with_this_machines_secret(tmp_path, capsys):
    main(["--data-dir", str(tmp_path), "--token", "agent"])
    token = capsys.readouterr().out.strip()
    secret = dev_credentials(tmp_path)["jwt_secret"]
    claims = jwt.decode(token, secret, algorithms=["HS256"], audience=JWT_AUDIENCE, issuer=JWT_ISSUER)
    assert claims["roles"] == ["agent"]
    assert claims["sub"] == "dev-agent"
    assert claims["exp"] - claims["iat"] == 12 * 3600
    # Nothing was started: no database folder beside the credentials.
    assert not (tmp_path / "pg").exists()
