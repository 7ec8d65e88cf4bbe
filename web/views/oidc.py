"""Signing in through an OpenID Connect provider (``oidc:`` in dialtone.yaml, docs/sign-in.md).

The Authorization Code flow with PKCE (Authlib's OAuth2Session): ``/oidc/login`` sends the
browser to the provider with a fresh ``state``, ``nonce`` and code verifier kept in the signed
session cookie (one sign-in at a time; each is used once); ``/oidc/callback`` takes them out of
the cookie, exchanges the code, and checks the ID token with joserfc: its signature against the
provider's published keys (``alg=none`` and symmetric algorithms refused), ``iss`` the
provider's, ``aud`` our client, ``exp``/``iat`` with ``clock_skew_seconds`` of slack, ``nonce``
the one sent. The person's groups (the ID token's and userinfo's ``groups_claim``) give their
role; an account is made or updated (engine/store/accounts.py ``provision``).

Groups are re-read every ``refresh_interval``: on the first request after it the server asks
the provider's userinfo endpoint with the session's access token (and, once that has expired,
gets a new one with the refresh token; the same when userinfo does not carry the groups claim,
reading it from the new ID token). The provider's tokens are kept in the server-side
session row, encrypted with a key derived from the application's secret key: never in the
cookie. A person left in no mapped group loses the account at that request: it is disabled, its
sessions end and its API tokens are revoked; so does a definitive refusal by the provider (it
answers ``invalid_grant`` to the refresh token, or refuses a just-issued access token at
userinfo): the person has left. A provider that cannot be reached, or fails (5xx), only ends the
session (the next sign-in waits for the provider): access is never kept on an unchecked answer.
Of several requests arriving once the re-read is due, one re-reads (web/store: claim_refresh);
the others go on as they are. The re-read's ID token and userinfo must name the account's own
subject (OpenID Connect Core 12.2).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from cryptography.fernet import Fernet, InvalidToken
from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from dialtone.engine.access import ScopeError
from dialtone.engine.errors import DialtoneError
from dialtone.engine.oidc_settings import OidcSettings
from dialtone.engine.store import accounts
from dialtone.engine.store.workflow import audit_writer, record

from ..security import client_address, public, safe_next
from . import drafts

bp = Blueprint("oidc", __name__)
log = logging.getLogger(__name__)

#: Signature algorithms an ID token may use: asymmetric only, never "none" (nor HS*, which
#: would make the client secret a signing key).
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
#: The session cookie's key for the sign-in under way.
PENDING = "oidc_pending"
NO_SIGN_IN = ("This sign-in answer does not belong to a sign-in started here, or was used already: "
              "start again.")
#: The longest a sign-in may take at the provider (its state is refused after that).
PENDING_SECONDS = 15 * 60


class OidcError(DialtoneError):
    """A sign-in refused: ``message`` for the page, ``reason`` for the audit log."""

    def __init__(self, message: str, reason: str, status: int = 400) -> None:
        super().__init__(message)
        self.reason, self.status = reason, status


class ProviderRefused(OidcError):
    """At a session refresh, the provider refused the person's tokens (not a failure to reach
    it): their sessions end and their API tokens stop until they sign in again."""


@dataclass(frozen=True)
class Identity:
    subject: str            # "<issuer> <sub>"
    username: str
    groups: list[str]


class Provider:
    """The provider as configured: its discovery document and keys (fetched once, the keys again
    when a token names a key id not seen yet, as at a key rotation)."""

    def __init__(self, settings: OidcSettings, secret: str) -> None:
        self.settings, self._secret = settings, secret
        self._metadata: dict | None = None
        self._keys: KeySet | None = None
        self._lock = threading.RLock()   # keys() may fetch the metadata first

    def _get(self, url: str, **kwargs) -> requests.Response:
        try:
            response = requests.get(url, timeout=self.settings.timeout_seconds, **kwargs)
        except requests.RequestException as exc:
            raise OidcError("The sign-in provider cannot be reached just now: try again in a moment.",
                            f"provider unreachable: {type(exc).__name__}", 503) from None
        return response

    @staticmethod
    def _object(response: requests.Response, what: str) -> dict:
        """The answer's JSON object; OidcError (503) for anything else, as for an answer that
        failed (an HTML page where the document should be: a wrong issuer URL, a proxy's page)."""
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise OidcError("The sign-in provider's answer could not be read.",
                            f"{what} is not a JSON object", 503)
        return body

    def metadata(self) -> dict:
        with self._lock:
            if self._metadata is None:
                response = self._get(self.settings.discovery_url)
                if response.status_code != 200:
                    raise OidcError("The sign-in provider's settings could not be read.",
                                    f"discovery answered {response.status_code}", 503)
                doc = self._object(response, "discovery")
                if doc.get("issuer") != self.settings.issuer:
                    raise OidcError("The sign-in provider is not the one configured.",
                                    f"discovery issuer {doc.get('issuer')!r} is not oidc.issuer", 503)
                self._metadata = doc
            return self._metadata

    def keys(self, refetch: bool = False) -> KeySet:
        with self._lock:
            if self._keys is None or refetch:
                uri = self._metadata["jwks_uri"] if self._metadata else self.metadata()["jwks_uri"]
                response = self._get(uri)
                if response.status_code != 200:
                    raise OidcError("The sign-in provider's keys could not be read.",
                                    f"jwks answered {response.status_code}", 503)
                try:
                    self._keys = KeySet.import_key_set(self._object(response, "jwks"))
                except (JoseError, ValueError, TypeError, KeyError):
                    raise OidcError("The sign-in provider's keys could not be read.",
                                    "jwks holds no key set", 503) from None
            return self._keys

    def client(self, **kwargs) -> OAuth2Session:
        session = OAuth2Session(self.settings.client_id, self._secret, scope=" ".join(self.settings.scopes),
                                redirect_uri=self.settings.redirect_uri, code_challenge_method="S256",
                                default_timeout=self.settings.timeout_seconds, **kwargs)
        # The token endpoint's redirects are not followed: on a 307 or 308 requests would post the
        # code, the verifier and the client secret again to wherever it points (another host too).
        session.max_redirects = 0
        return session

    def authorization_url(self, state: str, nonce: str, verifier: str) -> str:
        url, _ = self.client().create_authorization_url(
            self.metadata()["authorization_endpoint"], state=state, nonce=nonce, code_verifier=verifier)
        return url

    def exchange(self, code: str, verifier: str) -> dict:
        try:
            return dict(self.client().fetch_token(self.metadata()["token_endpoint"], code=code,
                                                  code_verifier=verifier, grant_type="authorization_code"))
        except Exception as exc:   # Authlib's OAuthError, or the transport's: both refuse the sign-in
            raise OidcError("The sign-in provider did not accept the sign-in: start again.",
                            f"code exchange failed: {exc}"[:300]) from None

    def refreshed(self, refresh_token: str) -> dict:
        return dict(self.client().refresh_token(self.metadata()["token_endpoint"],
                                                refresh_token=refresh_token))

    def userinfo(self, access_token: str, refused: tuple[int, ...] = (401, 403)) -> dict | None:
        """The userinfo claims; None when the access token is no longer accepted (answered with a
        status in ``refused``)."""
        endpoint = self.metadata().get("userinfo_endpoint")
        if not endpoint:
            return {}
        response = self._get(endpoint, headers={"Authorization": f"Bearer {access_token}"})
        if response.status_code in refused:
            return None
        if response.status_code != 200:
            raise OidcError("The sign-in provider's userinfo failed.",
                            f"userinfo {response.status_code}", 503)
        return self._object(response, "userinfo")

    def id_token_claims(self, raw: str, nonce: str | None, now: datetime) -> dict:
        """The ID token's claims once its signature and claims are checked; OidcError otherwise."""
        try:
            header = json.loads(base64.urlsafe_b64decode(raw.split(".")[0] + "=="))
        except (ValueError, IndexError):
            raise OidcError("The sign-in provider's answer could not be read.",
                            "ID token not a JWT") from None
        alg = header.get("alg") if isinstance(header, dict) else None
        if alg not in ALGORITHMS:
            raise OidcError("The sign-in provider's answer is not signed as required.",
                            f"ID token algorithm {alg!r} refused")
        keys = self.keys()
        if header.get("kid") and not any(k.kid == header["kid"] for k in keys.keys):
            keys = self.keys(refetch=True)     # the provider may have rotated its keys
        try:
            token = jwt.decode(raw, keys, algorithms=list(ALGORITHMS))
        except (JoseError, ValueError) as exc:
            raise OidcError("The sign-in provider's answer failed its signature check.",
                            f"ID token signature: {exc}"[:300]) from None
        claims = token.claims
        options: dict[str, Any] = {
            "iss": {"essential": True, "value": self.metadata()["issuer"]},
            "sub": {"essential": True},
            "aud": {"essential": True, "value": self.settings.client_id},
            "exp": {"essential": True},
            "iat": {"essential": True},
        }
        if nonce is not None:
            options["nonce"] = {"essential": True, "value": nonce}
        registry = jwt.JWTClaimsRegistry(now=int(now.timestamp()), leeway=self.settings.clock_skew_seconds,
                                         **options)
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise OidcError("The sign-in provider's answer is not valid for this sign-in: start again.",
                            f"ID token claims: {exc}"[:300]) from None
        if int(claims["iat"]) > int(now.timestamp()) + self.settings.clock_skew_seconds:
            raise OidcError("The sign-in provider's answer is dated in the future.",
                            "ID token iat in the future")
        aud = claims["aud"]
        if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != self.settings.client_id:
            raise OidcError("The sign-in provider's answer is for another application.", "ID token azp")
        return dict(claims)

    def identity(self, claims: dict, userinfo: dict) -> Identity:
        if userinfo and userinfo.get("sub") not in (None, claims["sub"]):
            raise OidcError("The sign-in provider's answers disagree.", "userinfo sub differs")
        merged = {**claims, **userinfo}
        username = next((merged[c] for c in self.settings.username_claims
                         if isinstance(merged.get(c), str) and merged[c].strip()), None)
        if username is None:
            raise OidcError("The sign-in provider gave no username for you (claims "
                            f"{', '.join(self.settings.username_claims)}).", "no username claim")
        return Identity(f"{self.metadata()['issuer']} {claims['sub']}", username.strip(),
                        _groups(merged.get(self.settings.groups_claim)))


def _groups(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [g for g in value if isinstance(g, str)]
    return []


def provider() -> Provider | None:
    return current_app.extensions.get("dialtone.oidc")


def setup(app, settings: OidcSettings | None) -> None:
    """Register the provider (its client secret read now: a missing one stops the server)."""
    app.extensions["dialtone.oidc"] = Provider(settings, settings.client_secret()) if settings else None


# -- the provider's tokens, encrypted in the session row -------------------------------------------
def _fernet() -> Fernet:
    key = hashlib.sha256(b"dialtone oidc session tokens\0" + str(current_app.secret_key).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(tokens: dict) -> str:
    kept = {k: tokens[k] for k in ("access_token", "refresh_token", "id_token", "expires_at") if k in tokens}
    return _fernet().encrypt(json.dumps(kept).encode()).decode()


def unseal(sealed: str | None) -> dict:
    if not sealed:
        return {}
    try:
        return json.loads(_fernet().decrypt(sealed.encode()))
    except (InvalidToken, ValueError):
        return {}      # the secret key changed: as if the provider no longer answered


def _audit():
    store = current_app.extensions["dialtone.store"]
    return audit_writer(store, f"web:{client_address()}")


def _refuse(exc: OidcError, who: str = ""):
    record(current_app.extensions["dialtone.store"], _audit(), who[:200] or "-", "sign_in_failed",
           f"user:{who[:200]}" if who else "oidc", {"method": "oidc", "reason": exc.reason})
    return render_template("oidc_refused.html", message=str(exc)), exc.status


@bp.route("/oidc/login")
@public
def login():
    prov = provider()
    if prov is None:
        return redirect(url_for("auth.login"))
    pending = {"state": secrets.token_urlsafe(32), "nonce": secrets.token_urlsafe(32),
               "verifier": secrets.token_urlsafe(48), "next": safe_next(request.args.get("next")),
               "at": current_app.extensions["dialtone.store"].now().timestamp()}
    try:
        url = prov.authorization_url(pending["state"], pending["nonce"], pending["verifier"])
    except OidcError as exc:
        return _refuse(exc)
    session[PENDING] = pending
    return redirect(url)


@bp.route("/oidc/callback")
@public
def callback():
    prov = provider()
    store = current_app.extensions["dialtone.store"]
    if prov is None:
        return redirect(url_for("auth.login"))
    # Taken out at once: a state (and its nonce and verifier) serves one answer only.
    pending = session.pop(PENDING, None)
    if not isinstance(pending, dict):
        # Nobody to hold to account and nothing under way: logged, not audited (anyone can send
        # this as often as the rate limit lets them; the audit log must not grow with it).
        log.info("OpenID callback without a sign-in under way from %s", client_address())
        return render_template("oidc_refused.html", message=NO_SIGN_IN), 400
    try:
        # As bytes: compare_digest refuses a str with non-ASCII characters (a TypeError, a 500).
        if not secrets.compare_digest(str(pending.get("state", "")).encode(),
                                      request.args.get("state", "").encode()):
            raise OidcError(NO_SIGN_IN, "state missing, unknown or replayed")
        if store.now().timestamp() - pending["at"] > PENDING_SECONDS:
            raise OidcError("This sign-in took too long: start again.", "sign-in older than 15 minutes")
        if request.args.get("error"):
            raise OidcError("The sign-in provider refused the sign-in: "
                            f"{request.args.get('error_description') or request.args['error']}"[:300],
                            f"provider error {request.args['error']}"[:200], 403)
        if request.args.get("iss") and request.args["iss"] != prov.metadata()["issuer"]:
            raise OidcError("This sign-in answer comes from another provider.", "iss parameter differs")
        tokens = prov.exchange(request.args.get("code", ""), pending["verifier"])
        if "id_token" not in tokens:
            raise OidcError("The sign-in provider sent no ID token.", "no id_token")
        claims = prov.id_token_claims(tokens["id_token"], pending["nonce"], store.now())
        info = prov.userinfo(tokens["access_token"]) if tokens.get("access_token") else {}
        identity = prov.identity(claims, info or {})
    except OidcError as exc:
        return _refuse(exc)
    role = prov.settings.role_for(identity.groups)
    if role is None:
        return _refuse(OidcError(f"You signed in as {identity.username}, but none of your groups gives "
                                 "access to Dialtone. Ask your administrator to add you to one of the "
                                 "groups that do.", "no mapped group", 403), identity.username)
    audit = _audit()
    try:
        scope = prov.settings.scope_for(identity.groups)
    except ScopeError as exc:
        return _refuse(OidcError(f"You signed in as {identity.username}, but {exc}. Ask your "
                                 "administrator.", "ambiguous scope", 403), identity.username)
    try:
        user = accounts.provision(store, identity.subject, identity.username, role, audit=audit,
                                  scope=scope)
    except accounts.SignInRefused as exc:
        return _refuse(OidcError(str(exc), exc.reason, 403), identity.username)
    record(store, audit, user.username, "sign_in", f"user:{user.username}",
           {"method": "oidc", "role": user.role, "groups": identity.groups})
    previous = session.get("sid")
    if isinstance(previous, str):
        accounts.end_session(store, previous)    # whoever was signed in here before
    draft = drafts.kept_for(user.username)
    session.clear()
    if draft is not None:
        session[drafts.SESSION_KEY] = draft
    session[drafts.WHO_KEY] = user.username
    session.permanent = True
    session["sid"] = accounts.start_session(store, user, client_address(),
                                            current_app.permanent_session_lifetime, oidc_tokens=seal(tokens))
    session["role"] = user.role
    return redirect(pending["next"])


def refresh(store, sid: str, live: accounts.LiveSession) -> accounts.User | None:
    """Re-read an OpenID session's groups when ``refresh_interval`` has passed; the user as the
    groups now say, or None when the session ended (groups gone: the account deprovisioned)."""
    prov = provider()
    user = live.user
    now = store.now()
    audit = _audit()
    if prov is None:
        accounts.end_session(store, sid)    # OpenID sign-in turned off: its sessions end
        return None
    due = live.refreshed_at is None or live.refreshed_at <= _iso(now - prov.settings.refresh_interval)
    if not due or not accounts.claim_refresh(store, sid, live.refreshed_at):
        return user      # not due, or another request of this session is re-reading just now
    tokens = unseal(live.oidc_tokens)
    try:
        groups, renewed = _reread(prov, tokens, live.subject, now)
    except ProviderRefused as exc:
        # Logged by account id: a username is often an e-mail address (no personal data in logs).
        log.warning("OpenID account %s unconfirmed at refresh: %s", user.id, exc.reason)
        accounts.withdraw_confirmation(store, user, f"refused by the provider at session refresh: "
                                                    f"{exc.reason}", audit=audit)
        return None
    except OidcError as exc:
        log.warning("OpenID session of account %s ended at refresh: %s", user.id, exc.reason)
        accounts.end_session(store, sid, audit=audit, actor=user.username)
        return None
    role = prov.settings.role_for(groups)
    if role is None:
        accounts.deprovision(store, user, "no mapped group at session refresh", audit=audit)
        return None
    try:
        scope = prov.settings.scope_for(groups)
    except ScopeError as exc:
        # The account's stored scope is no longer what the groups say: every session ends and
        # the tokens stop until a sign-in under groups that name one scope sets it again.
        log.warning("OpenID account %s unconfirmed at refresh: %s", user.id, exc)
        accounts.withdraw_confirmation(store, user, f"at session refresh: {exc}", audit=audit)
        return None
    user = accounts.refresh_role(store, user, role, audit=audit, scope=scope)
    accounts.session_refreshed(store, sid, seal(renewed) if renewed else None)
    return user


def _reread(prov: Provider, tokens: dict, subject: str | None,
            now: datetime) -> tuple[list[str], dict | None]:
    """The person's groups as the provider says them now, and its renewed tokens (None when the
    access token still served). ProviderRefused when the provider refuses the person
    definitively; OidcError when it cannot answer (unreachable, 5xx, an answer that fails its
    checks)."""
    claim = prov.settings.groups_claim
    info = prov.userinfo(tokens["access_token"]) if tokens.get("access_token") else None
    renewed = None
    # The access token has expired, or userinfo does not carry the groups (Entra ID's does
    # not): a new ID token from the refresh token says them.
    if info is None or claim not in info:
        if not tokens.get("refresh_token"):
            why = "refused the access token" if info is None else f"has no {claim!r} claim"
            raise OidcError("cannot re-read the groups", f"no refresh token, and userinfo {why}")
        try:
            renewed = {**tokens, **prov.refreshed(tokens["refresh_token"])}
        except OAuthError as exc:
            if exc.error == "invalid_grant":     # RFC 6749 5.2: revoked, or the person is gone
                raise ProviderRefused("refresh refused", "refresh token refused: invalid_grant") from None
            raise OidcError("refresh failed", f"refresh token: {exc.error}"[:300]) from None
        except Exception as exc:     # unreachable, timed out, an unreadable answer: sign in again
            raise OidcError("refresh failed", f"refresh token: {type(exc).__name__}") from None
        claims = prov.id_token_claims(renewed["id_token"], None, now) if renewed.get("id_token") else {}
        _same_subject(claims, subject, "the refreshed ID token")
        # Only 401 (invalid_token) says the person is gone; a 403 (insufficient_scope) is the
        # provider's configuration, and must not disable anybody.
        fresh = prov.userinfo(renewed["access_token"], refused=(401,)) if renewed.get("access_token") else {}
        if fresh is None:
            # An access token issued this instant, refused: the provider no longer knows them.
            raise ProviderRefused("userinfo refused", "userinfo refused a fresh access token")
        info = {**claims, **fresh}
    _same_subject(info, subject, "userinfo")
    return _groups(info.get(claim)), renewed


def _same_subject(claims: dict, subject: str | None, where: str) -> None:
    """OpenID Connect Core 12.2 and 5.3.2: a re-read speaks of the person who signed in, or of nobody."""
    if subject is None or "sub" not in claims:
        return
    if subject.split(" ", 1)[-1] != claims["sub"]:
        raise OidcError("another person", f"{where} names another subject")


def logout_url(live: accounts.LiveSession | None) -> str | None:
    """The provider's end-session address (RP-initiated logout) when it has one, with the ID
    token as a hint and the login page to come back to."""
    prov = provider()
    if prov is None or live is None or live.oidc_tokens is None:
        return None
    try:
        endpoint = prov.metadata().get("end_session_endpoint")
    except OidcError:
        return None
    if not endpoint:
        return None
    from urllib.parse import urlencode

    params = {"client_id": prov.settings.client_id,
              "post_logout_redirect_uri": prov.settings.redirect_base_url + url_for("auth.login")}
    id_token = unseal(live.oidc_tokens).get("id_token")
    if id_token:
        params["id_token_hint"] = id_token
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(params)}"


def _iso(moment: datetime) -> str:
    from dialtone.engine.store import iso

    return iso(moment)

