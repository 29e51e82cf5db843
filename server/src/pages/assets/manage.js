// The administration page (`manage`): with a token (pasted, or from signing in), list,
// create and delete user groups (`/user-groups`), list users and set their groups
// (`/users`, `PATCH /user/{id}`), delete users, and invite new ones (invite.js).
'use strict';

(() => {
  const { el, show } = M;
  const app = document.getElementById('app');

  /** A button that asks for a second click before `action` (no modal dialogs). */
  function confirmButton(label, action) {
    let armed = null;
    const b = el('button', { type: 'button', class: 'danger' }, label);
    b.addEventListener('click', async () => {
      if (!armed) {
        b.textContent = 'Really?';
        armed = setTimeout(() => { armed = null; b.textContent = label; }, 4000);
        return;
      }
      clearTimeout(armed);
      armed = null;
      b.disabled = true;
      await action();
      b.disabled = false;
      b.textContent = label;
    });
    return b;
  }

  function groupsSection(me, onChange) {
    const list = el('div', { id: 'groups' }, el('p', { class: 'muted', text: 'Loading…' }));
    const msg = el('div', { id: 'groups-msg' });
    const name = el('input', { id: 'group-name', name: 'name', required: true, placeholder: 'team-a' });
    const create = el('form', { class: 'inline', id: 'group-form' },
      el('label', {}, 'New group', name), el('button', { class: 'primary', type: 'submit', id: 'group-create' }, 'Create'));
    const load = async () => {
      try {
        const r = await M.getAll('user-groups', null, { auth: true });
        r.items.sort((a, b) => a.name.localeCompare(b.name));
        show(list, r.items.length ? M.table(['name', 'id', ''], r.items.map((g) => M.row([
          el('strong', { text: g.name }), el('code', { text: g.id }),
          confirmButton('Delete', async () => {
            try {
              await M.api('DELETE', `user-groups/${encodeURIComponent(g.id)}`, { auth: true });
              show(msg, el('div', { class: 'ok', text: `Deleted the group ${g.name}.` }));
              await load();
              onChange();
            } catch (e) {
              show(msg, M.errorBox(e));
            }
          }),
        ], { dataset: { name: g.name } })), { id: 'groups-table' }) : el('p', { class: 'muted', text: 'No groups.' }));
      } catch (e) {
        show(list, M.errorBox(e));
      }
    };
    create.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        const g = await M.api('POST', 'user-groups', { json: { name: name.value.trim() }, auth: true });
        show(msg, el('div', { class: 'ok', text: `Created the group ${g.name}.` }));
        name.value = '';
        await load();
        onChange();
      } catch (e) {
        show(msg, M.errorBox(e));
      }
    });
    load();
    return { node: el('section', { class: 'panel' }, el('h2', { text: 'Groups' }), create, msg, list), load };
  }

  function usersSection(me) {
    const list = el('div', { id: 'users' }, el('p', { class: 'muted', text: 'Loading…' }));
    const msg = el('div', { id: 'users-msg' });
    const flag = (v) => (v ? 'yes' : 'no');
    const load = async () => {
      try {
        const r = await M.getAll('users', null, { auth: true });
        r.items.sort((a, b) => a.username.localeCompare(b.username));
        show(list, M.table(['username', 'email', 'active', 'superuser', 'verified', 'groups', ''], r.items.map((u) => {
          const names = (u.groups || []).map((g) => g.name);
          const cells = [el('strong', { text: u.username }), u.email, flag(u.is_active), flag(u.is_superuser), flag(u.is_verified)];
          if (!me.is_superuser) return M.row([...cells, names.join(', '), ''], { dataset: { username: u.username } });
          const input = el('input', { value: names.join(', '), size: 24, 'aria-label': `groups of ${u.username}` });
          const save = el('button', { type: 'button' }, 'Save');
          save.addEventListener('click', async () => {
            const groups = input.value.split(',').map((g) => g.trim()).filter(Boolean);
            try {
              await M.api('PATCH', `user/${encodeURIComponent(u.id)}`, { json: { groups }, auth: true });
              show(msg, el('div', { class: 'ok', text: `Saved the groups of ${u.username}.` }));
              await load();
            } catch (e) {
              show(msg, M.errorBox(e));
            }
          });
          const del = u.id === me.id ? '' : confirmButton('Delete', async () => {
            try {
              await M.api('DELETE', `user/${encodeURIComponent(u.id)}`, { auth: true });
              show(msg, el('div', { class: 'ok', text: `Deleted the user ${u.username}.` }));
              await load();
            } catch (e) {
              show(msg, M.errorBox(e));
            }
          });
          return M.row([...cells, [input, ' ', save], del], { dataset: { username: u.username } });
        }), { id: 'users-table' }));
      } catch (e) {
        show(list, M.errorBox(e));
      }
    };
    load();
    const note = me.is_superuser
      ? el('p', { class: 'muted', text: 'Groups are replaced by the list saved; as on the Python server, an empty list leaves them as they are.' })
      : null;
    return { node: el('section', { class: 'panel' }, el('h2', { text: 'Users' }), note, msg, list), load };
  }

  function start(me) {
    const who = el('p', {}, 'Signed in as ', el('strong', { text: me.username }),
      me.is_superuser ? ' (superuser).' : '. Group administration and invites need a superuser.');
    const users = usersSection(me);
    const parts = [who];
    if (me.is_superuser) {
      const groups = groupsSection(me, () => users.load());
      const invite = el('section', { class: 'panel' }, el('h2', { text: 'Invite a user' }), Invite.form(() => users.load()));
      parts.push(el('div', { class: 'cols' }, groups.node, invite));
    }
    parts.push(users.node);
    show(app, parts);
  }

  M.showWho();
  M.requireUser(app, start, 'Sign in (or paste an API token) to manage users and groups.');
})();
