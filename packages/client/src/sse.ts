// Server-Sent Events, as the daemon's GET /v1/watch writes them: blocks separated by a blank line, each
// with `event:`, `id:` and `data:` fields; lines starting with ':' are comments (heartbeats).

export interface SseMessage {
  readonly event: string
  readonly id: string | undefined
  readonly data: string
}

/** Feeds text chunks in, gets whole messages out (a chunk may end mid-message). */
export class SseParser {
  private buffer = ''
  /** A chunk ended in '\r': its '\n' may start the next one (one CRLF, not two line ends). */
  private carriageReturn = false

  push(chunk: string): SseMessage[] {
    let text = this.carriageReturn ? `\r${chunk}` : chunk
    this.carriageReturn = text.endsWith('\r')
    if (this.carriageReturn) text = text.slice(0, -1)
    this.buffer += text.includes('\r') ? text.replace(/\r\n?/g, '\n') : text
    const messages: SseMessage[] = []
    for (let end = this.buffer.indexOf('\n\n'); end !== -1; end = this.buffer.indexOf('\n\n')) {
      const block = this.buffer.slice(0, end)
      this.buffer = this.buffer.slice(end + 2)
      let event = 'message'
      let id: string | undefined
      const data: string[] = []
      let fields = 0
      for (const line of block.split('\n')) {
        if (line === '' || line.startsWith(':')) continue
        fields++
        const colon = line.indexOf(':')
        const field = colon === -1 ? line : line.slice(0, colon)
        const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '')
        if (field === 'event') event = value
        else if (field === 'id') id = value
        else if (field === 'data') data.push(value)
      }
      if (fields > 0) messages.push({ event, id, data: data.join('\n') })
    }
    return messages
  }
}
