import { describe, expect, it } from 'vitest';
import { displayPreview, formatUsd, lastUsed, providerName, utcMonthStart, withArticle } from './format';

describe('displayPreview', () => {
  it('shows the masked preview the API sends as it is', () => {
    expect(displayPreview('sk-ant-…abcd')).toBe('sk-ant-…abcd');
  });
  it('never shows more than the last 4 characters of anything unmasked', () => {
    expect(displayPreview('sk-ant-api03-0123456789wxyz')).toBe('…wxyz');
  });
  it('shows a dash when there is none', () => {
    expect(displayPreview('')).toBe('—');
    expect(displayPreview(null)).toBe('—');
  });
});

describe('formatUsd', () => {
  it('formats dollars, with 4+ decimals for small values', () => {
    expect(formatUsd(0)).toBe('$0.00');
    expect(formatUsd(12.5)).toBe('$12.50');
    expect(formatUsd(0.0123)).toBe('$0.0123');
    expect(formatUsd(0.0000042)).toBe('$0.000004');
    expect(formatUsd(null)).toBe('—');
  });
});

describe('small helpers', () => {
  it('names providers and their article', () => {
    expect(providerName('openai')).toBe('OpenAI');
    expect(withArticle('Anthropic')).toBe('an Anthropic');
    expect(withArticle('Google')).toBe('a Google');
  });
  it('says Never for a key not used yet', () => {
    expect(lastUsed(null)).toBe('Never');
  });
  it('starts the month at midnight UTC', () => {
    expect(utcMonthStart(new Date('2026-11-30T23:59:00Z'))).toBe('2026-11-01T00:00:00.000Z');
  });
});
