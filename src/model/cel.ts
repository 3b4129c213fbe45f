/** A CEL string literal for `text`, for the rules synth generates (CRD validations, claim rules). */
export function celString(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
