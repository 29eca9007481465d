import { isReservedName } from '../../src/protocol/names';

// Lobby: a display name and a room name lead to the viewer page.
const form = document.querySelector<HTMLFormElement>('#lobby');
const nameInput = form?.querySelector<HTMLInputElement>('input[name="name"]');
const error = document.querySelector<HTMLElement>('#name-error');
nameInput?.addEventListener('input', () => {
  // Role words are kept for hosts: say so before the server renames the viewer.
  const reserved = isReservedName(nameInput.value);
  nameInput.setCustomValidity(reserved ? 'This name contains a word reserved for hosts (host, admin, moderator…); choose another.' : '');
  if (error) error.textContent = reserved ? nameInput.validationMessage : '';
});
form?.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const data = new FormData(form);
  const params = new URLSearchParams({ room: String(data.get('room') ?? ''), name: String(data.get('name') ?? '') });
  location.href = `watch.html?${params.toString()}`;
});
