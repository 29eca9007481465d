import type { Signaling } from './signaling';
import type { Stage } from './stage';
import { $, toast } from './ui';

/**
 * The header's "Recording" badge: shown while an operator records the room's
 * stage (the join answer says so, `recording` pushes say when it changes), so
 * nobody is recorded without seeing it. A change during the visit is also said
 * in a toast.
 */
export function showRecording(stage: Stage, signaling: Signaling): void {
  const badge = $('#rec-badge');
  const show = (active: boolean) => badge.classList.toggle('hidden', !active);
  stage.on('joined', (info) => show(info.recording.active));
  signaling.on('recording', ({ active }) => {
    show(active);
    toast(active ? 'This stage is now being recorded.' : 'Recording has stopped.', 'info');
  });
}
