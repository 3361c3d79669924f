// The sign-in form: the key goes to the server once, in the request body, and is never stored.
const form = document.getElementById("signin");
const error = document.getElementById("error");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = form.elements.key;
  const button = form.querySelector("button");
  error.hidden = true;
  button.disabled = true;
  try {
    const response = await fetch("/dashboard/session", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      credentials: "same-origin",
      body: JSON.stringify({ key: input.value.trim() }),
    });
    if (response.ok) {
      input.value = "";
      window.location.assign("/" + (window.location.hash || "#/overview"));
      return;
    }
    const body = await response.json().catch(() => null);
    error.textContent = (body && typeof body.detail === "string" && body.detail) || `sign-in failed (HTTP ${response.status})`;
  } catch (err) {
    error.textContent = `cannot reach the server (${err.message})`;
  }
  error.hidden = false;
  button.disabled = false;
  input.focus();
});
