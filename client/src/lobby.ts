// Lobby: a display name and a room name lead to the viewer page.
const form = document.querySelector<HTMLFormElement>('#lobby');
form?.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const data = new FormData(form);
  const params = new URLSearchParams({ room: String(data.get('room') ?? ''), name: String(data.get('name') ?? '') });
  location.href = `watch.html?${params.toString()}`;
});
