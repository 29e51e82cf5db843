// The invite form (`user/invite`, and a section of `manage`): a superuser invites someone
// with `POST /user/invite`, and gets the invite link to pass on when no email went out.
'use strict';

const Invite = (() => {
  const { el, show } = M;

  /** The form; `onInvited(answer)` after a successful invite. */
  function form(onInvited) {
    const username = el('input', { id: 'invite-username', name: 'username', required: true, autocomplete: 'off' });
    const email = el('input', { id: 'invite-email', name: 'email', type: 'email', required: true, autocomplete: 'off' });
    const groups = el('input', { id: 'invite-groups', name: 'groups', placeholder: 'team-a, team-b', size: 30 });
    const superuser = el('input', { id: 'invite-superuser', type: 'checkbox', name: 'is_superuser' });
    const sendEmail = el('input', { id: 'invite-send-email', type: 'checkbox', name: 'send_email', checked: true });
    const returnToken = el('input', { id: 'invite-return-token', type: 'checkbox', name: 'return_token', checked: true });
    const resend = el('input', { id: 'invite-resend', type: 'checkbox', name: 'resend_if_exists' });
    const out = el('div', { id: 'invite-result' });
    const f = el('form', { class: 'stack', id: 'invite-form' },
      el('label', {}, 'Username', username),
      el('label', {}, 'Email', email),
      el('label', {}, 'Groups (names, comma-separated; they must exist)', groups),
      el('label', { class: 'check' }, superuser, 'Superuser'),
      el('label', { class: 'check' }, sendEmail, 'Send the invite by email (when the server has SMTP)'),
      el('label', { class: 'check' }, returnToken, 'Show me the invite link'),
      el('label', { class: 'check' }, resend, 'Invite again if the user exists and has not accepted yet'),
      el('div', {}, el('button', { class: 'primary', type: 'submit', id: 'invite-submit' }, 'Invite')),
      out);
    f.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      show(out, el('p', { class: 'muted', text: 'Inviting…' }));
      const body = {
        username: username.value.trim(),
        email: email.value.trim(),
        groups: groups.value.split(',').map((g) => g.trim()).filter(Boolean),
        is_superuser: superuser.checked,
        send_email: sendEmail.checked,
        return_token: returnToken.checked,
        resend_if_exists: resend.checked,
      };
      try {
        const r = await M.api('POST', 'user/invite', { json: body, auth: true });
        show(out, result(r));
        if (onInvited) onInvited(r);
      } catch (e) {
        show(out, M.errorBox(e));
      }
    });
    return f;
  }

  function result(r) {
    const who = r.user || {};
    const lines = [el('p', {}, 'Invited ', el('strong', { text: who.username }), ` <${who.email}>.`,
      r.email_sent ? ' The invite was emailed.' : ' No email was sent.')];
    if (r.invite_url) {
      const link = el('input', { id: 'invite-url', readonly: true, value: r.invite_url, size: 60 });
      link.addEventListener('focus', () => link.select());
      lines.push(el('label', {}, 'Invite link (pass it on; it works once)', link));
    } else if (!r.email_sent) {
      lines.push(el('p', {}, 'Ask for the link ("Show me the invite link") to pass the invite on yourself.'));
    }
    return el('div', { class: 'ok' }, lines);
  }

  function page() {
    const app = document.getElementById('app');
    M.showWho();
    M.requireUser(app, (me) => {
      if (!me.is_superuser) {
        show(app, M.errorBox(new Error(`Only superusers invite users; ${me.username} is not one.`)));
        return;
      }
      show(app, form());
    }, 'Inviting users needs a superuser: sign in as one.');
  }

  if (document.body.dataset.page === 'invite') page();
  return { form };
})();
