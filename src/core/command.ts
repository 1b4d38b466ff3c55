/** A start command made only of plain words runs without a shell: one process fewer, and signals reach it directly. */
const PLAIN_WORDS = /^[\w./@:=+,%-]+(?: +[\w./@:=+,%-]+)*$/;

export function isPlainCommand(command: string): boolean {
  return PLAIN_WORDS.test(command.trim());
}
