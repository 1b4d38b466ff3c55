/**
 * berth's demo runtime: an MCP server (built with @modelcontextprotocol/server 2.x) whose notes live in its process
 * and its workspace. Under berth every session gets its own copy, kept across requests and seen by no other session.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import { McpServer } from '@modelcontextprotocol/server';
import * as z from 'zod/v4';

const notes: string[] = [];
const journal = join(process.env.HOME ?? '/tmp', 'journal.txt');

serveStdio(() => {
  const server = new McpServer({ name: 'berth-notes-demo', version: '1.0.0' });
  server.registerTool('add_note', { description: 'Remembers a note for this session', inputSchema: z.object({ text: z.string() }) }, async ({ text }) => {
    notes.push(text);
    appendFileSync(journal, `${new Date().toISOString()} ${text}\n`);
    return { content: [{ type: 'text', text: `noted (${notes.length} so far)` }] };
  });
  server.registerTool('list_notes', { description: "Lists this session's notes", inputSchema: z.object({}) }, async () => ({
    content: [{ type: 'text', text: notes.length === 0 ? 'no notes yet' : notes.map((n, i) => `${i + 1}. ${n}`).join('\n') }],
  }));
  server.registerTool('journal', { description: "Reads this session's journal file from its workspace", inputSchema: z.object({}) }, async () => {
    let text = '';
    try {
      text = readFileSync(journal, 'utf8');
    } catch {
      text = 'the journal is empty';
    }
    return { content: [{ type: 'text', text }] };
  });
  return server;
});
