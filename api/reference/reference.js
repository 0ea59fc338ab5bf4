// The reference page of the REST API: Swagger UI over the document the
// server itself answers at /openapi.json (api/openapi.yaml). "Authorize"
// takes an API key for "Try it out"; the key stays in this page.
window.addEventListener("load", () => {
  window.SwaggerUIBundle({
    url: new URL("/openapi.json", window.location.href).toString(),
    dom_id: "#reference",
    deepLinking: true,
    tryItOutEnabled: false,
    persistAuthorization: false,
  });
});
