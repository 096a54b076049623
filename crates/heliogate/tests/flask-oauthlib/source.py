"""A Flask-OAuthlib server of the original design, to import from.

    python source.py DATABASE_URL [--rename-username]

Creates the original's tables with Flask-SQLAlchemy (users with md5(password + name) hashes,
clients, grants, bearer tokens) on DATABASE_URL (sqlite:///PATH or postgresql://…), issues
tokens through Flask-OAuthlib's own token endpoint (client credentials, Basic authentication,
over HTTP on a local port), adds what the tests need besides (a user's token with a refresh
token, an expired token, a client heliogate must refuse), and prints what it made as JSON.
"""
import json
import sys
import threading
from datetime import datetime, timedelta
from hashlib import md5

import requests
from flask import Flask
from flask_oauthlib.provider import OAuth2Provider
from flask_oauthlib.provider.oauth2 import OAuth2RequestValidator
from flask_sqlalchemy import SQLAlchemy
from werkzeug.serving import make_server

url = sys.argv[1]
rename = '--rename-username' in sys.argv
# The URL heliogate is given; SQLAlchemy names its driver.
for scheme in ('postgres://', 'postgresql://'):
    if url.startswith(scheme):
        url = 'postgresql+psycopg2://' + url[len(scheme):]

app = Flask(__name__)
app.config['SQLALCHEMY_DATABASE_URI'] = url
app.config['OAUTH2_PROVIDER_TOKEN_EXPIRES_IN'] = 86400  # the original's one day
db = SQLAlchemy(app)


class User(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    # A site that renamed `name` (the test's mapping file names it back).
    name = db.Column('login' if rename else 'name', db.String(40), unique=True, nullable=False)
    password_hash = db.Column(db.String(32), nullable=False)
    active = db.Column(db.Boolean, default=True)

    def set_password_hash(self, password):
        self.password_hash = md5((password + self.name).encode()).hexdigest()


class Client(db.Model):
    client_id = db.Column(db.String(40), primary_key=True)
    client_secret = db.Column(db.String(55), nullable=False)
    user_id = db.Column(db.ForeignKey('user.id'))
    user = db.relationship('User')
    is_confidential = db.Column(db.Boolean, default=True)
    _redirect_uris = db.Column(db.Text, default='')
    _default_scopes = db.Column(db.Text, default='')

    @property
    def client_type(self):
        return 'confidential' if self.is_confidential else 'public'

    @property
    def redirect_uris(self):
        return self._redirect_uris.split() if self._redirect_uris else []

    @property
    def default_redirect_uri(self):
        return (self.redirect_uris or [None])[0]

    @property
    def default_scopes(self):
        return self._default_scopes.split() if self._default_scopes else []


class Grant(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.ForeignKey('user.id', ondelete='CASCADE'))
    client_id = db.Column(db.String(40), db.ForeignKey('client.client_id'), nullable=False)
    code = db.Column(db.String(255), index=True, nullable=False)
    redirect_uri = db.Column(db.String(255))
    expires = db.Column(db.DateTime)
    _scopes = db.Column(db.Text)


class Token(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    client_id = db.Column(db.String(40), db.ForeignKey('client.client_id'), nullable=False)
    user_id = db.Column(db.ForeignKey('user.id'))
    user = db.relationship('User')
    token_type = db.Column(db.String(40))
    access_token = db.Column(db.String(255), unique=True)
    refresh_token = db.Column(db.String(255), unique=True)
    expires = db.Column(db.DateTime)
    _scopes = db.Column(db.Text)

    @property
    def scopes(self):
        return self._scopes.split() if self._scopes else []


class BasicAuthValidator(OAuth2RequestValidator):
    """Werkzeug 3 parses `Authorization: Basic` into an object, which Flask-OAuthlib 0.9.6
    does not expect: read the credentials from it."""

    def _get_client_creds_from_request(self, request):
        if request.client_id is not None:
            return request.client_id, request.client_secret
        auth = request.headers.get('Authorization')
        if auth is not None and getattr(auth, 'type', None) == 'basic':
            return auth.username, auth.password
        return None, None


oauth = OAuth2Provider(app, validator_class=BasicAuthValidator)


@oauth.clientgetter
def load_client(client_id):
    return Client.query.filter_by(client_id=client_id).first()


@oauth.grantgetter
def load_grant(client_id, code):
    return Grant.query.filter_by(client_id=client_id, code=code).first()


@oauth.grantsetter
def save_grant(client_id, code, request, *args, **kwargs):
    raise NotImplementedError


@oauth.tokengetter
def load_token(access_token=None, refresh_token=None):
    if access_token:
        return Token.query.filter_by(access_token=access_token).first()
    return Token.query.filter_by(refresh_token=refresh_token).first()


@oauth.tokensetter
def save_token(token, request, *args, **kwargs):
    expires = datetime.utcnow() + timedelta(seconds=token.get('expires_in', 86400))
    db.session.add(Token(access_token=token['access_token'],
                         refresh_token=token.get('refresh_token'),
                         token_type=token['token_type'], _scopes=token['scope'],
                         expires=expires, client_id=request.client.client_id,
                         user_id=request.user.id if request.user else None))
    db.session.commit()


@app.route('/oauth/token', methods=['POST'])
@oauth.token_handler
def access_token():
    return None


def main():
    made = {'users': {}, 'clients': {}, 'live': [], 'expired': [], 'refresh': []}
    with app.app_context():
        db.drop_all()
        db.create_all()
        for name, password, active in [('alice', 'alice in 2016', True),
                                       ('bob', 'bob in 2017', True),
                                       ('carol', 'gone since 2018', False),
                                       ('no such name!', 'refused', True)]:
            user = User(name=name, active=active)
            user.set_password_hash(password)
            db.session.add(user)
            made['users'][name] = password
        db.session.commit()
        alice = User.query.filter_by(name='alice').first()
        clients = [
            # A service of alice's, with client credentials: its tokens act for alice.
            ('predictions-nightly', 'nightly-secret-0123456789', alice, '', 'read', True),
            # A web application with an https redirect URI.
            ('workflow-web', 'web-secret-0123456789', alice, 'https://workflow.example.org/cb',
             'read write', True),
            # Refused by heliogate: a plain-http redirect URI that is not loopback.
            ('legacy-http', 'http-secret-0123456789', None, 'http://legacy.example.org/cb',
             'read', True),
        ]
        for client_id, secret, owner, uris, scopes, confidential in clients:
            db.session.add(Client(client_id=client_id, client_secret=secret, user=owner,
                                  _redirect_uris=uris, _default_scopes=scopes,
                                  is_confidential=confidential))
            made['clients'][client_id] = secret
        db.session.commit()

    # Tokens from Flask-OAuthlib's token endpoint, over HTTP.
    server = make_server('127.0.0.1', 0, app)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    for _ in range(3):
        answer = requests.post(f'http://127.0.0.1:{server.port}/oauth/token',
                               data={'grant_type': 'client_credentials', 'scope': 'read'},
                               auth=('predictions-nightly', 'nightly-secret-0123456789'))
        answer.raise_for_status()
        made['live'].append(answer.json()['access_token'])
    server.shutdown()

    with app.app_context():
        alice = User.query.filter_by(name='alice').first()
        now = datetime.utcnow()
        # As the authorization-code flow would have saved them.
        db.session.add(Token(access_token='alice-web-access-0123456789',
                             refresh_token='alice-web-refresh-0123456789', token_type='Bearer',
                             _scopes='read write', expires=now + timedelta(hours=20),
                             client_id='workflow-web', user_id=alice.id))
        made['live'].append('alice-web-access-0123456789')
        made['refresh'].append('alice-web-refresh-0123456789')
        db.session.add(Token(access_token='expired-access-0123456789', token_type='Bearer',
                             _scopes='read', expires=now - timedelta(hours=1),
                             client_id='predictions-nightly', user_id=alice.id))
        made['expired'].append('expired-access-0123456789')
        db.session.commit()
    print(json.dumps(made))


main()
