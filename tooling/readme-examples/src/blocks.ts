// The README side: find example blocks and render them. A block is
//
//   <!-- example: examples/quickstart.ts -->
//   ```ts
//   (the file, verbatim)
//   ```
//   <!-- output -->
//   ```text
//   (what running it prints on stdout)
//   ```
//   <!-- /example -->
//
// Line-based rather than one regex, so a malformed block is reported with its line.

export interface ExampleBlock {
  /** Path of the example file, relative to the README's folder. */
  readonly file: string
  /** 0-based line of the opening marker and 0-based line after the closing marker. */
  readonly start: number
  readonly end: number
  /** The code block's text with a final newline (as a file has), and the output block's likewise ('' when empty). */
  readonly code: string
  readonly output: string
}

export interface ParsedReadme {
  readonly blocks: ExampleBlock[]
  readonly problems: string[]
  /** 1-based lines of ```ts blocks outside example markers. */
  readonly looseTsBlocks: number[]
}

const OPEN = /^<!-- example: (\S+) -->$/
const TS_FENCE = /^```(ts|typescript)\s*$/

export function parseReadme(text: string): ParsedReadme {
  const lines = text.split('\n')
  const blocks: ExampleBlock[] = []
  const problems: string[] = []
  const looseTsBlocks: number[] = []
  let i = 0
  // Reads a fenced block opened by exactly `fence` at line i; returns its content lines and moves past the closing fence.
  const fenced = (fence: string, what: string): string[] | undefined => {
    if (lines[i] !== fence) {
      problems.push(`line ${i + 1}: expected ${JSON.stringify(fence)} to open the ${what}, found ${JSON.stringify(lines[i] ?? '<end of file>')}`)
      return undefined
    }
    const body: string[] = []
    for (i++; i < lines.length && lines[i] !== '```'; i++) body.push(lines[i]!)
    if (i >= lines.length) {
      problems.push(`the ${what} opened before the end of the file is never closed`)
      return undefined
    }
    i++
    return body
  }
  const expectLine = (line: string): boolean => {
    if (lines[i] === line) {
      i++
      return true
    }
    problems.push(`line ${i + 1}: expected ${JSON.stringify(line)}, found ${JSON.stringify(lines[i] ?? '<end of file>')}`)
    return false
  }
  const asText = (body: string[]) => (body.length === 0 ? '' : `${body.join('\n')}\n`)

  while (i < lines.length) {
    const line = lines[i]!
    const open = OPEN.exec(line)
    if (open !== null) {
      const start = i
      i++
      const code = fenced('```ts', `code block of ${open[1]}`)
      if (code === undefined || !expectLine('<!-- output -->')) continue
      const output = fenced('```text', `output block of ${open[1]}`)
      if (output === undefined || !expectLine('<!-- /example -->')) continue
      blocks.push({ file: open[1]!, start, end: i, code: asText(code), output: asText(output) })
      continue
    }
    if (line.startsWith('<!-- example') || line === '<!-- output -->' || line === '<!-- /example -->') {
      problems.push(`line ${i + 1}: stray or malformed example marker ${JSON.stringify(line)} (expected "<!-- example: path -->" before a \`\`\`ts block)`)
      i++
      continue
    }
    if (line.startsWith('```')) {
      if (TS_FENCE.test(line)) looseTsBlocks.push(i + 1)
      // Skip any other fenced block whole, so a fence inside it is not taken for a marker.
      for (i++; i < lines.length && lines[i] !== '```'; i++);
    }
    i++
  }
  return { blocks, problems, looseTsBlocks }
}

/** The README text of one example block, from the file's content and its real stdout. */
export function renderBlock(file: string, code: string, stdout: string): string {
  const body = (text: string) => (text === '' ? '' : text.endsWith('\n') ? text : `${text}\n`)
  return `<!-- example: ${file} -->\n\`\`\`ts\n${body(code)}\`\`\`\n<!-- output -->\n\`\`\`text\n${body(stdout)}\`\`\`\n<!-- /example -->`
}

/** Replaces blocks (in reverse, so earlier line numbers stay valid) with their rendered text. */
export function replaceBlocks(text: string, replacements: ReadonlyArray<{ block: ExampleBlock; text: string }>): string {
  const lines = text.split('\n')
  for (const { block, text: rendered } of [...replacements].sort((a, b) => b.block.start - a.block.start)) {
    lines.splice(block.start, block.end - block.start, ...rendered.split('\n'))
  }
  return lines.join('\n')
}
