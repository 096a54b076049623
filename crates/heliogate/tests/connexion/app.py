"""A Connexion 3 resource server that checks tokens at heliogate's /oauth/tokeninfo.

Run as: python app.py PORT HELIOGATE_BASE_URL
"""
import sys
from pathlib import Path

import connexion

FORECASTS = [{"region": "AR 12673", "flare_probability": 0.42}]


def list_forecasts(user, token_info):
    return {"forecasts": FORECASTS, "uid": token_info.get("uid"), "scope": token_info.get("scope")}


def add_forecast(user, token_info):
    return {"added": True}, 201


def main():
    port, base = int(sys.argv[1]), sys.argv[2].rstrip("/")
    app = connexion.FlaskApp(__name__, specification_dir=Path(__file__).parent)
    app.add_api(
        "openapi.yaml",
        arguments={"tokeninfo_url": f"{base}/oauth/tokeninfo", "token_url": f"{base}/oauth/token"},
    )
    app.run(host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
