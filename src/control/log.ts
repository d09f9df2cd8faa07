export function errorMessage(err: unknown): string {
  if (err && typeof err === 'object' && 'detail' in err && typeof (err as { detail: unknown }).detail === 'string') {
    return (err as { detail: string }).detail;
  }
  return err instanceof Error ? err.message : String(err);
}
