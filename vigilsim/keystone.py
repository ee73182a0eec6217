"""Keystone v3: version discovery, password/token authentication, catalog, token validation."""

from __future__ import annotations

import json

from vigilsim.clock import iso
from vigilsim.http import Request, Response
from vigilsim.model import Model, Token

DOMAIN = {"id": "default", "name": "Default"}
_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    503: "Service Unavailable",
}


def fault(status: int, message: str) -> Response:
    """Keystone's error body: ``{"error": {"code", "message", "title"}}``."""
    return Response.json(
        status,
        {"error": {"code": status, "message": message, "title": _TITLES.get(status, "Error")}},
    )


def unauthorized() -> Response:
    return fault(401, "The request you have made requires authentication.")


class Keystone:
    def __init__(self, model: Model, base_url: str, catalog):
        self.model = model
        self.base = base_url  # .../identity
        self.catalog = catalog  # callable → list of catalog entries

    def _version(self) -> dict:
        return {
            "id": "v3.14",
            "status": "stable",
            "updated": "2020-04-07T00:00:00Z",
            "links": [{"rel": "self", "href": f"{self.base}/v3/"}],
            "media-types": [
                {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}
            ],
        }

    def handle(self, req: Request) -> Response:
        path = req.path.rstrip("/")
        if path == "":
            return Response.json(300, {"versions": {"values": [self._version()]}})
        if path == "/v3":
            return Response.json(200, {"version": self._version()})
        if path == "/v3/auth/tokens":
            if req.method == "POST":
                return self._authenticate(req)
            if req.method in ("GET", "HEAD"):
                return self._validate(req)
            if req.method == "DELETE":
                return self._revoke(req)
            return fault(405, "The method is not allowed for the requested URL.")
        if path == "/v3/auth/catalog" and req.method == "GET":
            if self.model.token(req.header("x-auth-token")) is None:
                return unauthorized()
            return Response.json(
                200, {"catalog": self.catalog(), "links": {"self": f"{self.base}/v3/auth/catalog"}}
            )
        if path == "/v3/auth/projects" and req.method == "GET":
            token = self.model.token(req.header("x-auth-token"))
            if token is None:
                return unauthorized()
            return Response.json(
                200, {"projects": [self._project(token.project)] if token.project else []}
            )
        return fault(404, f"Could not find resource {req.path}.")

    def _project(self, project: dict) -> dict:
        return {
            "id": project["id"],
            "name": project["name"],
            "domain_id": "default",
            "enabled": True,
            "domain": DOMAIN,
        }

    def token_body(self, token: Token, catalog: bool = True) -> dict:
        body = {
            "methods": token.methods,
            "user": {**token.user, "domain": DOMAIN, "password_expires_at": None},
            "audit_ids": [token.audit_id],
            "expires_at": iso(self.model.clock.at(token.expires), micro=True),
            "issued_at": iso(self.model.clock.at(token.issued), micro=True),
        }
        if token.project is not None:
            body["project"] = {
                "id": token.project["id"],
                "name": token.project["name"],
                "domain": DOMAIN,
            }
            body["is_domain"] = False
            body["roles"] = token.roles
            if catalog:
                body["catalog"] = self.catalog()
        return {"token": body}

    def _authenticate(self, req: Request) -> Response:
        try:
            auth = req.json()["auth"]
            identity = auth["identity"]
            methods = identity["methods"]
        except (ValueError, KeyError, TypeError):
            return fault(
                400,
                "Expecting to find auth in request body. The server could not comply with the "
                "request since it is either malformed or otherwise incorrect.",
            )
        if not isinstance(methods, list) or not methods:
            return fault(400, "Invalid input for field 'identity/methods'.")
        user_name = None
        if "password" in methods:
            user = (identity.get("password") or {}).get("user") or {}
            account = self._find_user(user)
            if account is None or user.get("password") != account["password"]:
                return unauthorized()
            user_name = account["name"]
        elif "token" in methods:
            prior = self.model.token((identity.get("token") or {}).get("id"))
            if prior is None:
                return unauthorized()
            user_name = prior.user["name"]
        else:
            return unauthorized()
        scope = auth.get("scope")
        project_name = None
        if scope:
            if not isinstance(scope, dict) or "project" not in scope:
                return unauthorized()
            project_name = self._find_project(scope["project"])
            account = self.model.users[user_name]
            if project_name is None or project_name != account["project"]:
                return unauthorized()
        token = self.model.issue_token(user_name, project_name, methods)
        nocatalog = req.arg("nocatalog") is not None
        return Response.json(
            201, self.token_body(token, not nocatalog), {"X-Subject-Token": token.id}
        )

    def _find_user(self, user: dict):
        for account in self.model.users.values():
            if user.get("id") == account["id"] or user.get("name") == account["name"]:
                return account
        return None

    def _find_project(self, project) -> str | None:
        if not isinstance(project, dict):
            return None
        for name, p in self.model.projects.items():
            if project.get("id") == p["id"] or project.get("name") == p["name"]:
                return name
        return None

    def _validate(self, req: Request) -> Response:
        if self.model.token(req.header("x-auth-token")) is None:
            return unauthorized()
        subject_id = req.header("x-subject-token")
        subject = self.model.token(subject_id)
        if subject is None:
            return fault(404, f"Could not find token: {subject_id}.")
        body = self.token_body(subject, req.arg("nocatalog") is None)
        response = Response.json(200, body, {"X-Subject-Token": subject.id})
        if req.method == "HEAD":
            response.body = json.dumps(body).encode()
        return response

    def _revoke(self, req: Request) -> Response:
        if self.model.token(req.header("x-auth-token")) is None:
            return unauthorized()
        subject_id = req.header("x-subject-token")
        if self.model.token(subject_id) is None:
            return fault(404, f"Could not find token: {subject_id}.")
        with self.model.lock:
            self.model.tokens.pop(subject_id, None)
        return Response(204)
