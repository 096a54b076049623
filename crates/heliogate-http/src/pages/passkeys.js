// Passkeys (WebAuthn) for heliogate's pages: the one script they load, from heliogate itself
// (the pages' CSP allows no other). A button with data-passkey="register", "second-factor" or
// "sign-in" runs that ceremony: it asks heliogate for the options, hands them to the browser's
// authenticator, and sends the answer back with the page's token in X-CSRF-Token.
"use strict";

const fromB64 = (text) => {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(b64 + "===".slice((b64.length + 3) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0)).buffer;
};
const toB64 = (buffer) =>
  btoa(String.fromCharCode(...new Uint8Array(buffer)))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

const post = async (url, token, body) => {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": token },
    body: JSON.stringify(body || {}),
    credentials: "same-origin",
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.error || "The passkey was not accepted.");
  return answer;
};

const creationOptions = (options) => {
  const key = options.publicKey;
  key.challenge = fromB64(key.challenge);
  key.user.id = fromB64(key.user.id);
  (key.excludeCredentials || []).forEach((c) => { c.id = fromB64(c.id); });
  return { publicKey: key };
};

const requestOptions = (options) => {
  const key = options.publicKey;
  key.challenge = fromB64(key.challenge);
  (key.allowCredentials || []).forEach((c) => { c.id = fromB64(c.id); });
  return { publicKey: key };
};

const created = (credential) => ({
  id: credential.id,
  rawId: toB64(credential.rawId),
  type: credential.type,
  response: {
    attestationObject: toB64(credential.response.attestationObject),
    clientDataJSON: toB64(credential.response.clientDataJSON),
  },
  extensions: credential.getClientExtensionResults(),
});

const asserted = (credential) => ({
  id: credential.id,
  rawId: toB64(credential.rawId),
  type: credential.type,
  response: {
    authenticatorData: toB64(credential.response.authenticatorData),
    clientDataJSON: toB64(credential.response.clientDataJSON),
    signature: toB64(credential.response.signature),
    userHandle: credential.response.userHandle ? toB64(credential.response.userHandle) : null,
  },
  extensions: credential.getClientExtensionResults(),
});

const ceremonies = {
  register: async (button, token) => {
    const field = document.getElementById(button.dataset.nameField);
    const start = await post("/account/passkeys/options", token);
    const credential = await navigator.credentials.create(creationOptions(start.options));
    return post("/account/passkeys", token, {
      ceremony: start.ceremony,
      name: field ? field.value : "",
      credential: created(credential),
    });
  },
  "second-factor": async (button, token) => {
    const start = await post("/login/second-factor/passkey/options", token);
    const credential = await navigator.credentials.get(requestOptions(start.options));
    return post("/login/second-factor/passkey", token, {
      ceremony: start.ceremony,
      credential: asserted(credential),
      next: button.dataset.next || "/",
    });
  },
  "sign-in": async (button, token) => {
    const start = await post("/login/passkey/options", token);
    const credential = await navigator.credentials.get(requestOptions(start.options));
    return post("/login/passkey", token, {
      ceremony: start.ceremony,
      credential: asserted(credential),
      next: button.dataset.next || "/",
    });
  },
};

document.querySelectorAll("[data-passkey]").forEach((button) => {
  if (!window.PublicKeyCredential) return;
  button.hidden = false;
  button.addEventListener("click", async (event) => {
    event.preventDefault();
    const error = document.getElementById("passkey-error");
    try {
      const done = await ceremonies[button.dataset.passkey](button, button.dataset.csrf);
      window.location.assign(done.redirect || "/");
    } catch (e) {
      if (error) {
        error.textContent = e.message || String(e);
        error.hidden = false;
      }
    }
  });
});
