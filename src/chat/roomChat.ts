import { ProtocolError, type ChatSync, type Notifications, type ResponseData, type Role } from '../protocol/messages.js';
import { ChatLog, normaliseChatText } from './chatLog.js';

export interface ChatOptions {
  history: number;
  maxLength: number;
  ratePerSecond: number;
  burst: number;
}

/** Who is writing or moderating (a room's participant). */
export interface ChatAuthor {
  id: string;
  name: string;
  role: Role;
  isModerator: boolean;
}

type ChatNotification = 'chatMessage' | 'chatDeleted' | 'chatCleared';

/**
 * A room's chat policy over its sequenced log: what a line may contain, who may
 * delete or clear, and what the room is told. Rate limits are the connection's
 * (signaling), since they must outlive a leave + join.
 */
export class RoomChat {
  readonly log: ChatLog;

  constructor(
    private readonly opts: ChatOptions,
    private readonly broadcast: <N extends ChatNotification>(method: N, data: Notifications[N]) => void,
  ) {
    this.log = new ChatLog(opts.history);
  }

  send(author: ChatAuthor, raw: string): ResponseData['chatSend'] {
    const text = normaliseChatText(raw);
    if (!text) throw new ProtocolError('bad-request', 'message is empty');
    if ([...text].length > this.opts.maxLength) throw new ProtocolError('too-large', `messages are limited to ${this.opts.maxLength} characters`);
    const message = this.log.append({ peerId: author.id, name: author.name, role: author.role }, text);
    this.broadcast('chatMessage', { ...message, epoch: this.log.epoch });
    return { id: message.id, seq: message.seq, ts: message.ts };
  }

  sync(since: number | undefined, epoch?: string): ChatSync {
    return this.log.sync(since, epoch);
  }

  /** Deletes a message for everyone. `by` is a participant, or undefined for the admin API. */
  delete(messageId: string, by?: ChatAuthor): void {
    if (by && !by.isModerator) throw new ProtocolError('forbidden', 'only moderators can delete messages');
    const deleted = this.log.delete(messageId);
    if (!deleted) throw new ProtocolError('not-found', `no message ${messageId} in this room's history`);
    this.broadcast('chatDeleted', deleted);
  }

  clear(by?: ChatAuthor): void {
    if (by && by.role !== 'admin') throw new ProtocolError('forbidden', 'only admins can clear the chat');
    this.broadcast('chatCleared', this.log.clear());
  }
}
