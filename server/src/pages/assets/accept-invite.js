// The accept-invite form (`user/accept-invite?token=...`, the link an invite hands out):
// the invited user chooses a password, sent with the token as JSON to
// `POST /user/accept-invite`; then they are signed in.
'use strict';

(() => {
  const { el, show } = M;
  const app = document.getElementById('app');
  const MIN_PASSWORD = 8;

  /** The claims of a JWT, read without checking it (only to greet the user; the server
   * checks the token). Null when it does not look like one. */
  function claims(token) {
    try {
      const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      const json = decodeURIComponent([...atob(part)].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join(''));
      const c = JSON.parse(json);
      return c && typeof c === 'object' ? c : null;
    } catch (_) {
      return null;
    }
  }

  function render() {
    const given = new URLSearchParams(location.search).get('token') || '';
    const token = el('input', { id: 'accept-token', name: 'token', value: given, required: true, size: 40 });
    const pass = el('input', { id: 'accept-password', name: 'password', type: 'password', required: true, minlength: MIN_PASSWORD, autocomplete: 'new-password' });
    const again = el('input', { id: 'accept-confirm', name: 'confirm', type: 'password', required: true, autocomplete: 'new-password' });
    const out = el('div', { id: 'accept-result' });
    const c = given ? claims(given) : null;
    const intro = [];
    if (c && c.email) intro.push(el('p', {}, 'Choose a password for ', el('strong', { text: c.email }), '.'));
    else intro.push(el('p', { text: 'Choose a password for your new account.' }));
    if (c && typeof c.exp === 'number' && c.exp * 1000 < Date.now()) {
      intro.push(el('div', { class: 'error', text: `This invite expired on ${new Date(c.exp * 1000).toLocaleString()}; ask for a new one.` }));
    }
    const submit = el('button', { class: 'primary', type: 'submit', id: 'accept-submit' }, 'Set password');
    const f = el('form', { class: 'stack', id: 'accept-form' },
      // The token is in the link; the field shows only when the link lost it.
      el('label', { class: given ? 'hidden' : '' }, 'Invite token', token),
      el('label', {}, `Password (at least ${MIN_PASSWORD} characters)`, pass),
      el('label', {}, 'Password again', again),
      el('div', {}, submit), out);
    f.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (pass.value !== again.value) {
        show(out, M.errorBox(new Error('The two passwords differ.')));
        return;
      }
      if (pass.value.length < MIN_PASSWORD) {
        show(out, M.errorBox(new Error(`The password needs at least ${MIN_PASSWORD} characters.`)));
        return;
      }
      submit.disabled = true;
      try {
        const user = await M.api('POST', 'user/accept-invite', { json: { token: token.value.trim(), password: pass.value } });
        let signedIn = false;
        try {
          await M.login(user.username, pass.value);
          signedIn = true;
        } catch (_) { /* the account is ready all the same */ }
        show(app, el('div', { class: 'ok', id: 'accept-done' },
          el('p', {}, 'Welcome, ', el('strong', { text: user.username }), '! Your account is ready',
            signedIn ? ' and you are signed in.' : '; sign in with your new password.'),
          el('p', {}, M.pageLink('viewer', null, 'Open the viewer'), ' · ', M.pageLink('manage', null, 'Your account'))));
        M.showWho();
      } catch (e) {
        submit.disabled = false;
        show(out, M.errorBox(e));
      }
    });
    show(app, intro, f);
  }

  render();
})();
