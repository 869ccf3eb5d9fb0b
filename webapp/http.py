"""Small helpers shared by the JSON APIs."""

from django.http import HttpRequest, JsonResponse


def json_error(status: int, code: str, detail: str) -> JsonResponse:
    """The one error shape of every API: {"error": {"code", "detail"}}."""
    return JsonResponse({"error": {"code": code, "detail": detail}}, status=status)


def bearer_token(request: HttpRequest) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""
