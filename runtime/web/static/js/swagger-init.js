// Starts Swagger UI on the served OpenAPI document (same origin; the session cookie signs requests in).
"use strict";
window.addEventListener("load", function () {
  window.SwaggerUIBundle({ url: "/api/v2/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
});
