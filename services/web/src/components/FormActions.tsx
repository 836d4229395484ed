/** The Save / Cancel row at the end of a dialog's form; Save submits the form. */
export function FormActions({ onCancel, saveDisabled }: { onCancel: () => void; saveDisabled: boolean }) {
  return (
    <div className="actions">
      <button type="submit" className="primary" disabled={saveDisabled}>
        Save
      </button>
      <button type="button" onClick={onCancel}>
        Cancel
      </button>
    </div>
  );
}
